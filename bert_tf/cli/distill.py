"""`bert_tf distill`: a small student from a fine-tuned teacher, for phones.

The teacher is a folder written by `bert_tf finetune` (a classifier or a
token classifier). The student (BERT-Tiny by default) learns the teacher's
softened outputs and the gold labels of `--train_file`, plus the teacher's
outputs on `--unlabeled_file`. The folder written to `--output_dir` is an
ordinary fine-tuned folder: `bert_tf export --model_dir=<it>
--format=tflite --quantization=dynamic_int8 --export_path=student.tflite`
makes the phone's file.

Examples:

  bert_tf distill --teacher_dir=runs/sst --train_file=train.csv \\
      --unlabeled_file=more_reviews.txt --eval_file=dev.csv \\
      --output_dir=runs/sst_tiny
  bert_tf distill --teacher_dir=runs/ner --train_file=train.conll \\
      --eval_file=dev.conll --student=bert_uncased_L-4_H-256_A-4 \\
      --output_dir=runs/ner_small
"""

import dataclasses
import json
import os
import sys

from absl import flags

from bert_tf.cli import task_commands
from bert_tf.cli.finetune import define, define_data_flags, fail, require, summarize, write_json
from bert_tf.tasks import classification, distillation, ner, student

FLAGS = flags.FLAGS

# Distillation's own defaults (`distillation.DISTILL_SETTINGS`) for the
# knobs it shares with `finetune` (whose defaults suit a pre-trained model,
# not a small student). A flag the user did not pass takes these, even when
# `finetune` defined it first.
DEFAULTS = {
    name: getattr(distillation.DISTILL_SETTINGS, name)
    for name in (
        "learning_rate",
        "num_train_epochs",
        "train_batch_size",
        "warmup_proportion",
        "weight_decay",
        "seed",
    )
}


def define_flags():
    define_data_flags()
    define("string", "teacher_dir", None, "A fine-tuned classifier or NER folder (the teacher).")
    define(
        "string",
        "train_file",
        None,
        "Labelled training data in the teacher's format (classify: CSV/TSV/JSON lines; "
        "ner: CoNLL); its labels must be the teacher's.",
    )
    define(
        "string",
        "unlabeled_file",
        None,
        "More raw text, labelled by the teacher only: one example a line (.txt), or the "
        "training format without labels.",
    )
    define(
        "string",
        "eval_file",
        None,
        "Labelled validation data: picks the best epoch; teacher and student are scored on it.",
    )
    define("string", "output_dir", None, "Where the student's model folder goes.")
    define(
        "string",
        "student",
        student.DEFAULT_STUDENT,
        "The student: a preset name (bert_uncased_L-<layers>_H-<hidden>_A-<heads>) or a "
        "bert_config.json; it takes the teacher's vocabulary.",
    )
    define(
        "enum",
        "student_init",
        "embeddings",
        "Starting weights: random; embeddings (the teacher's, projected to the "
        "student's width); layers (a student as wide as the teacher: every k-th layer).",
        list(student.STUDENT_INITS),
    )
    define("float", "temperature", 2.0, "Softmax temperature of the teacher's outputs.")
    define(
        "float",
        "label_weight",
        0.5,
        "Weight of the gold labels' loss (the teacher's outputs get 1 - this).",
    )
    define("integer", "train_batch_size", DEFAULTS["train_batch_size"], "Training batch size.")
    define("float", "learning_rate", DEFAULTS["learning_rate"], "Peak AdamW learning rate.")
    define("float", "num_train_epochs", DEFAULTS["num_train_epochs"], "Training epochs.")
    define(
        "float",
        "warmup_proportion",
        DEFAULTS["warmup_proportion"],
        "Fraction of steps of linear warm-up.",
    )
    define("float", "weight_decay", DEFAULTS["weight_decay"], "AdamW weight decay.")
    define("integer", "seed", DEFAULTS["seed"], "Random seed.")


def _knob(name):
    return getattr(FLAGS, name) if FLAGS[name].present else DEFAULTS[name]


def _read(path, info, require_labels=True):
    if info["task"] == "ner":
        return ner.read_conll(path, require_tags=require_labels)
    return classification.read_classification_file(
        path,
        task_commands.text_columns(info["text_columns"]),
        FLAGS.label_column,
        regression=info["regression"],
        file_format=FLAGS.file_format,
        require_labels=require_labels,
    )


def _distill():
    require("teacher_dir", "train_file", "output_dir")
    info = distillation.load_teacher_info(FLAGS.teacher_dir)
    train = _read(FLAGS.train_file, info)
    dev = _read(FLAGS.eval_file, info) if FLAGS.eval_file else None
    unlabeled = None
    if FLAGS.unlabeled_file:
        unlabeled = distillation.read_unlabeled(
            FLAGS.unlabeled_file,
            info["task"],
            task_commands.text_columns(info.get("text_columns", ("text",))),
            FLAGS.file_format,
        )
    out = FLAGS.output_dir
    result = distillation.distill(
        FLAGS.teacher_dir,
        train,
        out,
        unlabeled=unlabeled,
        eval_data=dev,
        student=FLAGS.student,
        student_init=FLAGS.student_init,
        temperature=FLAGS.temperature,
        label_weight=FLAGS.label_weight,
        settings=dataclasses.replace(
            distillation.DISTILL_SETTINGS,
            eval_batch_size=FLAGS.eval_batch_size,
            **{name: _knob(name) for name in DEFAULTS},
        ),
    )
    sizes = result["parameters"]
    sys.stdout.write(
        f"student written to {out}: {sizes['student']:,} parameters "
        f"({sizes['student'] / sizes['teacher']:.1%} of the teacher's {sizes['teacher']:,})\n"
    )
    if dev is not None:
        commands, _ = task_commands.for_model_dir(out)
        predictions = os.path.join(out, "eval_predictions.jsonl")
        commands.predict_dev(out, dev, predictions)
        results = {
            "best_epoch": result["best_epoch"],
            **result["eval"],
            "teacher": result["teacher_eval"],
        }
        write_json(os.path.join(out, "eval_results.json"), results)
        sys.stdout.write(
            f"best epoch {result['best_epoch']}: student "
            f"{json.dumps(summarize(result['eval']))}\n"
            f"teacher {json.dumps(summarize(result['teacher_eval']))}\n"
            f"eval results: {os.path.join(out, 'eval_results.json')}\n"
        )


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {argv[1:]}")
    _distill()
