"""The `bert_tf` command: one entry point, one module per subcommand.

Each subcommand lives in `bert_tf/cli/<name>.py` and defines
`define_flags()` (absl flags, with the original BERT scripts' names where they
exist) and `main(argv)`. Only the chosen subcommand's flags are defined, so
`bert_tf <command> --help` lists just those.

TensorFlow's C++ start-up lines (CUDA probing on a CPU machine, CPU feature
notes) are hidden unless the user asks for them with `--tf_logs` or sets
`TF_CPP_MIN_LOG_LEVEL` themselves (`bert_tf.cli.quiet`): failures still
arrive as Python errors.
"""

import importlib
import sys

from absl import app, flags

from bert_tf.cli import quiet
from bert_tf.cli.quiet import quiet_tensorflow  # noqa: F401  (public name)

flags.DEFINE_bool(
    quiet.TF_LOGS_FLAG,
    False,
    "Show TensorFlow's C++ log lines (start-up, CUDA probing). Without it "
    "they are hidden, unless TF_CPP_MIN_LOG_LEVEL is set.",
)

# Subcommand → (module, one-line description).
COMMANDS = {
    "quickstart": (
        "bert_tf.cli.quickstart",
        "end-to-end demo on the standard library's docstrings",
    ),
    "vocab": ("bert_tf.cli.vocab", "learn a WordPiece vocab.txt from text"),
    "pretrain": ("bert_tf.cli.pretrain", "pre-train BERT (masked LM + next sentence)"),
    "tokenize": (
        "bert_tf.cli.tokenize",
        "tokenize and pack text with a vocab.txt",
    ),
    "finetune": (
        "bert_tf.cli.finetune",
        "fine-tune on classify / ner / squad data (Model.fit)",
    ),
    "distill": (
        "bert_tf.cli.distill",
        "a small student (for phones) from a fine-tuned classifier or NER teacher",
    ),
    "evaluate": (
        "bert_tf.cli.evaluate",
        "metrics of a fine-tuned model on labelled data",
    ),
    "predict": (
        "bert_tf.cli.predict",
        "batch predictions of a fine-tuned model to JSON lines",
    ),
    "convert": (
        "bert_tf.cli.convert",
        "convert checkpoints (Hugging Face, Google TF1, .keras)",
    ),
    "export": (
        "bert_tf.cli.export",
        "export fine-tuned models for TF Serving / TFLite, or the preprocessing model",
    ),
}

DEFAULT_COMMAND = "quickstart"


def usage() -> str:
    lines = ["usage: bert_tf <command> [--flags]", "", "commands:"]
    lines += [f"  {name:<12} {desc}" for name, (_, desc) in COMMANDS.items()]
    lines += ["", "`bert_tf <command> --help` lists a command's flags."]
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> None:
    """Entry point of the `bert_tf` console script and `python -m bert_tf`."""
    argv = list(sys.argv if argv is None else argv)
    prog, rest = argv[0], argv[1:]
    if rest and rest[0] in ("-h", "--help", "help"):
        sys.stdout.write(usage() + "\n")
        return
    if rest and not rest[0].startswith("-"):
        command, rest = rest[0], rest[1:]
    else:
        command = DEFAULT_COMMAND
    if command not in COMMANDS:
        sys.stderr.write(f"bert_tf: unknown command {command!r}\n\n{usage()}\n")
        sys.exit(2)
    # Before TF is imported (else too late, and the caller's choice).
    if "tensorflow" not in sys.modules and quiet.quiet_tensorflow(rest):
        quiet.start_tensorflow()
    module = importlib.import_module(COMMANDS[command][0])
    module.define_flags()

    def main(args):
        # Bad input (a missing file, a malformed line, a wrong flag value) is the
        # user's to fix: one clear line, no traceback. Anything else (a
        # TypeError, say) is a bug, and keeps its traceback.
        try:
            return module.main(args)
        except (FileNotFoundError, FileExistsError, ValueError) as e:
            sys.stderr.write(f"bert_tf {command}: error: {e}\n")
            sys.exit(2)

    app.run(main, argv=[f"{prog} {command}"] + rest)
