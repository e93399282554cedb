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

FLAGS = flags.FLAGS


def define_flags():
    cli.define_data_flags()
    cli.define("string", "model_dir", None, "A folder written by finetune.")
    cli.define("string", "input_file", None, "Data in the task's format.")
    cli.define("string", "output_file", None, "Where the JSON lines go.")


def predict():
    cli.require("model_dir", "input_file", "output_file")
    from bert_tf.tasks import classification, common, ner, squad

    info = common.load_task_info(FLAGS.model_dir)
    task = info["task"]
    if task == "classify":
        data = classification.read_classification_file(
            FLAGS.input_file,
            cli.text_columns(info["text_columns"]),
            FLAGS.label_column,
            regression=info["regression"],
            file_format=FLAGS.file_format,
            require_labels=False,
        )
        records = classification.predict_classifier(
            FLAGS.model_dir, data, FLAGS.output_file, FLAGS.eval_batch_size
        )
    elif task == "ner":
        records = ner.predict_ner(
            FLAGS.model_dir,
            ner.read_conll(FLAGS.input_file, require_tags=False),
            FLAGS.output_file,
            FLAGS.eval_batch_size,
        )
    else:
        records = squad.predict_squad(
            FLAGS.model_dir,
            FLAGS.input_file,
            FLAGS.output_file,
            FLAGS.eval_batch_size,
            **cli.decode_overrides(),
        )
    sys.stdout.write(f"{len(records)} predictions written to {FLAGS.output_file}\n")


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {argv[1:]}")
    cli.run_guarded(predict)
