"""`bert_tf export`: write models for TF Serving (SavedModel) or LiteRT (TFLite).

Currently the preprocessing model (raw strings → BERT inputs); task models
follow with the export work.
"""

import os
import sys

from absl import flags
from absl import logging

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("vocab_file", None, "The WordPiece vocab.txt.")
    flags.DEFINE_boolean("do_lower_case", None, "Uncased (True) or cased.")
    flags.DEFINE_integer("max_seq_length", 128, "Default packed length.")
    flags.DEFINE_enum(
        "truncator",
        "round_robin",
        ["round_robin", "waterfall"],
        "How segments are trimmed to fit.",
    )
    flags.DEFINE_enum(
        "format", "saved_model", ["saved_model", "tflite"], "What to write."
    )
    flags.DEFINE_string(
        "export_path",
        None,
        "SavedModel folder (e.g. savedmodels/preprocess/1) or .tflite file.",
    )
    flags.DEFINE_boolean(
        "overwrite", False, "Replace an existing export instead of failing."
    )
    flags.mark_flags_as_required(["vocab_file", "do_lower_case", "export_path"])


def main(argv):
    from bert_tf.export import (
        preprocessing,
        tflite,
    )  # pylint: disable=g-import-not-at-top
    from bert_tf.text import (
        BertTokenizer,
    )  # pylint: disable=g-import-not-at-top

    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {argv[1:]}")
    tokenizer = BertTokenizer(FLAGS.vocab_file, lower_case=FLAGS.do_lower_case)
    if FLAGS.format == "saved_model":
        audit = preprocessing.export_preprocessing(
            FLAGS.export_path,
            tokenizer,
            seq_length=FLAGS.max_seq_length,
            truncator=FLAGS.truncator,
            overwrite=FLAGS.overwrite,
        )
        logging.info("TF-Text ops used: %s", audit["tf_text"])
    else:
        if os.path.exists(FLAGS.export_path) and not FLAGS.overwrite:
            raise FileExistsError(
                f"{FLAGS.export_path} exists; pass --overwrite to replace it"
            )
        model = tflite.convert_preprocessing(
            tokenizer,
            seq_length=FLAGS.max_seq_length,
            truncator=FLAGS.truncator,
        )
        tmp = FLAGS.export_path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(model)
        os.replace(tmp, FLAGS.export_path)
    sys.stdout.write(f"wrote {FLAGS.export_path}\n")
