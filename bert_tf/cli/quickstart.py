"""`bert_tf quickstart`: the end-to-end demo on the standard library's docstrings.

For now (until pre-training and fine-tuning land): builds the corpus from the
running Python's standard-library docstrings, learns a vocabulary from it,
tokenizes and packs a few sentences in the graph, and shows the result.
"""

import os
import sys

from absl import flags
from absl import logging

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("output_dir", "runs/quickstart",
                      "Where the vocabulary and results are written.")
  flags.DEFINE_integer("vocab_size", 8000, "Size of the learned vocabulary.")
  flags.DEFINE_integer("max_seq_length", 32, "Packed length for the demo.")


def main(argv):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from bert_tf.data import stdlib_corpus  # pylint: disable=g-import-not-at-top
  from bert_tf.text import BertPreprocessor, BertTokenizer, learn_vocabulary, save_vocabulary  # pylint: disable=g-import-not-at-top

  if len(argv) > 1:
    raise ValueError(f"unexpected arguments: {argv[1:]}")
  out = sys.stdout
  lines = stdlib_corpus.lines()
  out.write(f"corpus: {len(lines)} docstring lines from Python "
            f"{stdlib_corpus.python_version_tag()}'s standard library\n")
  tf.io.gfile.makedirs(FLAGS.output_dir)
  vocab_file = os.path.join(FLAGS.output_dir, "vocab.txt")
  out.write(f"learning an uncased WordPiece vocabulary "
            f"(<= {FLAGS.vocab_size} tokens)...\n")
  vocab = learn_vocabulary(lines, FLAGS.vocab_size, lower_case=True)
  save_vocabulary(vocab, vocab_file)
  tokenizer = BertTokenizer(vocab_file, lower_case=True)
  preprocessor = BertPreprocessor(tokenizer, seq_length=FLAGS.max_seq_length)
  samples = [lines[i] for i in range(0, len(lines), len(lines) // 3)][:3]
  packed = preprocessor(tf.constant(samples))
  for i, text in enumerate(samples):
    ids = packed["input_word_ids"][i].numpy().tolist()
    n = int(packed["input_mask"][i].numpy().sum())
    out.write(f"\ntext:   {text}\n")
    out.write(f"tokens: {[tokenizer.id_to_token(t) for t in ids[:n]]}\n")
    out.write(f"ids:    {ids}\n")
  out.write(f"\nvocabulary written to {vocab_file}\n")
  logging.info("quickstart done")
