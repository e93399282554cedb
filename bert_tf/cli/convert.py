"""`bert_tf convert`: checkpoint import / export between formats.

Reads a Hugging Face folder (`config.json` + `model.safetensors`), a Google
TF1 checkpoint (`bert_config.json` + `bert_model.ckpt`), the bundled
all-MiniLM-L6-v2 (`minilm`) or a bert_tf `.keras` encoder, and writes one of
`hf`, `google` or `keras` (a `BertEncoder` `.keras` file). `vocab.txt` is
copied along when the input has one.

Example:

  bert_tf convert --input=minilm --output_format=google --output_dir=/tmp/g
"""

import os
import sys

from absl import flags

from bert_tf.cli import finetune as cli

FLAGS = flags.FLAGS


def define_flags():
    cli.define(
        "string",
        "input",
        None,
        "A Hugging Face or Google checkpoint folder, 'minilm', or a .keras encoder file.",
    )
    cli.define("enum", "output_format", None, "What to write.", ["hf", "google", "keras"])
    cli.define("string", "output_dir", None, "Where to write it.")
    cli.define("string", "vocab_file", None, "vocab.txt to copy (default: the input's).")
    cli.define("boolean", "with_heads", False, "Keep the pre-training heads (masked LM, NSP).")


def load(path: str, with_heads: bool = False):
    """`(model, vocab_file or None)` from any supported input."""
    import keras

    from bert_tf import checkpoints
    from bert_tf.tasks import common

    if path == "minilm":
        path = common.minilm_path()
    if path.endswith(".keras"):
        import bert_tf.heads  # noqa: F401

        model = keras.saving.load_model(common.check_file(path, "model file"))
        folder = os.path.dirname(path)
    elif os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json")):
        model = checkpoints.load_hf_checkpoint(path, with_heads=with_heads)
        folder = path
    elif os.path.isdir(path) and os.path.isfile(os.path.join(path, "bert_config.json")):
        model = checkpoints.load_google_checkpoint(path, with_heads=with_heads)
        folder = path
    else:
        raise FileNotFoundError(
            f"{path!r}: not a checkpoint folder (config.json or "
            "bert_config.json), a .keras file or 'minilm'"
        )
    vocab = os.path.join(folder, "vocab.txt")
    return model, vocab if os.path.isfile(vocab) else None


def convert():
    cli.require("input", "output_format", "output_dir")
    from bert_tf import checkpoints

    model, vocab = load(FLAGS.input, FLAGS.with_heads)
    vocab = FLAGS.vocab_file or vocab
    out = FLAGS.output_dir
    os.makedirs(out, exist_ok=True)
    if FLAGS.output_format == "hf":
        written = checkpoints.save_hf_checkpoint(model, out, vocab)
    elif FLAGS.output_format == "google":
        written = checkpoints.save_google_checkpoint(model, out, vocab)
    else:
        import shutil

        written = os.path.join(out, "model.keras")
        model.save(written)
        if vocab:
            shutil.copyfile(vocab, os.path.join(out, "vocab.txt"))
    sys.stdout.write(f"wrote {written}\n")


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {argv[1:]}")
    cli.run_guarded(convert)
