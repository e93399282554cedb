"""Text in the graph: normalization, WordPiece, packing, vocabularies."""

from bert_tf.text.packer import BertPacker
from bert_tf.text.preprocessor import BertPreprocessor
from bert_tf.text.tokenizer import BertTokenizer
from bert_tf.text.vocab import learn_vocabulary
from bert_tf.text.vocab import learn_vocabulary_from_files
from bert_tf.text.vocab_io import load_vocabulary
from bert_tf.text.vocab_io import save_vocabulary
