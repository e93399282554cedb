"""`bert_tf tokenize`: tokenize and pack text with a `vocab.txt`.

Reads one text per line (or `text_a<TAB>text_b` pairs) and writes JSON lines
with the tokens and the packed model inputs.
"""

import json
import sys

from absl import flags

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("vocab_file", None, "The WordPiece vocab.txt.")
    flags.DEFINE_boolean("do_lower_case", None, "Uncased (True) or cased.")
    flags.DEFINE_string(
        "input_file",
        "-",
        "Text, one example per line ('-' = stdin); a TAB separates the segments of a pair.",
    )
    flags.DEFINE_integer("max_seq_length", 128, "Packed length.")
    flags.mark_flags_as_required(["vocab_file", "do_lower_case"])


def main(argv):
    import tensorflow as tf

    from bert_tf.text import (
        BertPreprocessor,
        BertTokenizer,
    )

    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {argv[1:]}")
    tokenizer = BertTokenizer(FLAGS.vocab_file, lower_case=FLAGS.do_lower_case)
    preprocessor = BertPreprocessor(tokenizer, seq_length=FLAGS.max_seq_length)
    if FLAGS.input_file == "-":
        lines = sys.stdin.read().splitlines()
    else:
        with tf.io.gfile.GFile(FLAGS.input_file) as f:
            lines = f.read().splitlines()
    for line in lines:
        segments = line.split("\t")
        ids = preprocessor([[s] for s in segments])
        pieces = [
            [tokenizer.id_to_token(i) for i in tokenizer.tokenize(s).numpy()] for s in segments
        ]
        sys.stdout.write(
            json.dumps(
                {
                    "text": segments,
                    "tokens": pieces,
                    **{k: v.numpy()[0].tolist() for k, v in ids.items()},
                },
                ensure_ascii=False,
            )
            + "\n"
        )
