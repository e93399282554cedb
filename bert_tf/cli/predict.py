"""`bert_tf predict`: batch predictions of a fine-tuned model folder to JSONL.

classify: one record per row (`label`, `probabilities` or `value`); ner: one
per sentence (`words`, `tags`, `entities`); squad: one per question
(`answer`, `nbest`, `null_score_diff`). Labels in the input are optional and
copied as `gold`; a label the model never saw raises at evaluation only.

Example:

  bert_tf predict --model_dir=runs/sst --input_file=test.csv \\
      --output_file=predictions.jsonl
"""

import sys

from absl import flags

from bert_tf.cli import finetune as cli
from bert_tf.cli import task_commands

FLAGS = flags.FLAGS


def define_flags():
    cli.define_model_dir_flags(
        "input_file", "Data in the task's format.", "Where the JSON lines go."
    )


def predict():
    cli.require("model_dir", "input_file", "output_file")
    commands, info = task_commands.for_model_dir(FLAGS.model_dir)
    records = commands.predict(FLAGS.model_dir, info, FLAGS.input_file, FLAGS.output_file)
    sys.stdout.write(f"{len(records)} predictions written to {FLAGS.output_file}\n")


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {argv[1:]}")
    cli.run_guarded(predict)
