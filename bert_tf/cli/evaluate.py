"""`bert_tf evaluate`: metrics of a fine-tuned model folder on labelled data.

The task (classify, ner, squad) and its settings come from the folder's
`task.json`. Prints the metrics as JSON and writes them to `--output_file`
if given.

Example:

  bert_tf evaluate --model_dir=runs/ner --eval_file=dev.conll
"""

import json
import sys

from absl import flags

from bert_tf.cli import finetune as cli
from bert_tf.cli import task_commands

FLAGS = flags.FLAGS


def define_flags():
    cli.define_model_dir_flags(
        "eval_file", "Labelled data in the task's format.", "Also write the metrics here."
    )


def evaluate():
    cli.require("model_dir", "eval_file")
    commands, info = task_commands.for_model_dir(FLAGS.model_dir)
    metrics = commands.evaluate(FLAGS.model_dir, info, FLAGS.eval_file)
    if FLAGS.output_file:
        cli.write_json(FLAGS.output_file, metrics)
    sys.stdout.write(json.dumps(metrics, sort_keys=True) + "\n")


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {argv[1:]}")
    cli.run_guarded(evaluate)
