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

FLAGS = flags.FLAGS


def define_flags():
    cli.define_data_flags()
    cli.define("string", "model_dir", None, "A folder written by finetune.")
    cli.define("string", "eval_file", None, "Labelled data in the task's format.")
    cli.define("string", "output_file", None, "Also write the metrics here.")


def evaluate():
    cli.require("model_dir", "eval_file")
    from bert_tf.tasks import classification, common, ner, squad

    info = common.load_task_info(FLAGS.model_dir)
    task = info["task"]
    if task == "classify":
        data = classification.read_classification_file(
            FLAGS.eval_file,
            cli.text_columns(info["text_columns"]),
            FLAGS.label_column,
            regression=info["regression"],
            file_format=FLAGS.file_format,
        )
        metrics = classification.evaluate_classifier(FLAGS.model_dir, data, FLAGS.eval_batch_size)
    elif task == "ner":
        metrics = ner.evaluate_ner(
            FLAGS.model_dir, ner.read_conll(FLAGS.eval_file), FLAGS.eval_batch_size
        )
    else:
        metrics = squad.evaluate_squad(
            FLAGS.model_dir, FLAGS.eval_file, FLAGS.eval_batch_size, **cli.decode_overrides()
        )
    if FLAGS.output_file:
        cli.write_json(FLAGS.output_file, metrics)
    sys.stdout.write(json.dumps(metrics, sort_keys=True) + "\n")


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {argv[1:]}")
    cli.run_guarded(evaluate)
