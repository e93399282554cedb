"""Text in the graph: normalization, WordPiece, packing, vocabularies."""

from bert_tf.text.packer import BertPacker
from bert_tf.text.preprocessor import BertPreprocessor
from bert_tf.text.tokenizer import BertTokenizer
from bert_tf.text.vocab import learn_vocabulary, learn_vocabulary_from_files
from bert_tf.text.vocab_io import load_vocabulary, save_vocabulary

__all__ = [
    "BertPacker",
    "BertPreprocessor",
    "BertTokenizer",
    "learn_vocabulary",
    "learn_vocabulary_from_files",
    "load_vocabulary",
    "save_vocabulary",
]
