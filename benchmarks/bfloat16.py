"""bfloat16 evidence: the bf16 SavedModel and bf16 fine-tuning, on real text.

One MiniLM-shaped classifier (the real all-MiniLM-L6-v2 checkpoint) on the
package-of-a-docstring task (standard-library docstrings, 6 packages):

- `train`: bert_tf `BertClassifier.fit` with `--mixed_precision=bfloat16`
  semantics (`distribute.set_mixed_precision("bfloat16")`: float32 on a CPU
  without AVX512-BF16/AMX, graph mode, no XLA), the same forced to bfloat16
  (`--force_mixed_precision`, emulated here), and keras-hub's float32
  `BertTextClassifier.fit` (its default compile) on the same strings,
  batch, sequence length, optimizer and epochs: examples/s of the last
  epoch (the first traces) and test accuracy. The issue's goal (bf16 at
  >= 1.4x keras-hub, accuracy within 0.5 point) can only be judged on a
  machine with fast bfloat16 (`machine.fast_bfloat16`).
- `serve`: the fine-tuned classifier exported as float32 and as bfloat16
  SavedModels (`export_for_serving(precision=...)`): strings/s of
  `serving_default` at batch 32, label agreement and logits max / mean abs
  error of bf16 against float32 on the test docstrings.

Prints ONE JSON line (with `machine`, `_common.machine()`).

Usage:

  python benchmarks/bfloat16.py [--train_examples=256] [--max_seq_length=64]
"""

import os
import random
import sys
import tempfile
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("train_examples", 256, "Training examples (a multiple of the batch).")
flags.DEFINE_integer("test_examples", 256, "Test docstrings (serving and accuracy).")
flags.DEFINE_integer("max_seq_length", 64, "Packed length.")
flags.DEFINE_integer("batch_size", 32, "Training and serving batch size.")
flags.DEFINE_integer("epochs", 2, "Epochs per side (the last is timed).")
flags.DEFINE_float("learning_rate", 1e-4, "AdamW learning rate.")
flags.DEFINE_boolean("skip_forced", False, "Skip the forced (emulated here) bf16 run.")


def _data():
    import numpy as np

    from bert_tf.data import stdlib_corpus
    from bert_tf.recipes import stdlib_task

    packages, train, _, test, _ = stdlib_task.make_task(stdlib_corpus.docstrings(), 6)
    index = {p: i for i, p in enumerate(packages)}
    n = FLAGS.train_examples - FLAGS.train_examples % FLAGS.batch_size
    # The test split is ordered by package: a fixed sample covers them all.
    train = train[:n]
    test = random.Random(0).sample(test, min(len(test), FLAGS.test_examples))

    def split(rows):
        return [r["text"] for r in rows], np.array([index[r["label"]] for r in rows], np.int32)

    return packages, split(train), split(test)


def _optimizer():
    import keras

    return keras.optimizers.AdamW(learning_rate=FLAGS.learning_rate, weight_decay=0.01)


def _fit(model, dataset, examples):
    """Trains `FLAGS.epochs` epochs; examples/s of the last one."""
    model.fit(dataset, epochs=FLAGS.epochs - 1, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, epochs=1, verbose=0)
    return examples / (time.perf_counter() - start)


def _accuracy(logits, labels):
    return float((logits.argmax(-1) == labels).mean())


def train_bert_tf(packages, train, test, force):
    import keras

    from bert_tf.heads import BertClassifier
    from bert_tf.tasks import classification, common
    from bert_tf.text import BertPreprocessor
    from bert_tf.training import distribute

    seq, batch = FLAGS.max_seq_length, FLAGS.batch_size
    keras.utils.set_random_seed(0)
    policy = distribute.set_mixed_precision("bfloat16", force=force)
    try:
        encoder, tokenizer, _ = common.load_initial_model("minilm", max_seq_length=seq)
        model = BertClassifier(encoder, num_classes=len(packages))
        model.compile(
            optimizer=_optimizer(),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=False,  # Graph mode: oneDNN's fast bfloat16 path.
        )
        preprocessor = BertPreprocessor(tokenizer, seq)
        ds = classification.make_dataset([(t,) for t in train[0]], train[1], preprocessor, batch)
        speed = _fit(model, ds, len(train[0]))
        logits = model.predict(preprocessor(keras.ops.convert_to_tensor(test[0])), verbose=0)
    finally:
        distribute.set_mixed_precision(None)
    return (
        model,
        tokenizer,
        {
            "policy": policy,
            "examples_per_s": round(speed, 2),
            "test_accuracy": _accuracy(logits, test[1]),
        },
    )


def train_keras_hub(packages, train, test):
    import keras
    import keras_hub
    import tensorflow as tf

    from bert_tf.tasks import common

    seq, batch = FLAGS.max_seq_length, FLAGS.batch_size
    keras.utils.set_random_seed(0)
    # The same starting weights: keras-hub reads the MiniLM folder itself.
    backbone = keras_hub.models.BertBackbone.from_preset(common.minilm_path())
    vocab = os.path.join(common.minilm_path(), "vocab.txt")
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True), sequence_length=seq
    )
    model = keras_hub.models.BertTextClassifier(
        backbone, num_classes=len(packages), preprocessor=preprocessor
    )
    model.compile(
        optimizer=_optimizer(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    ds = tf.data.Dataset.from_tensor_slices(train).batch(batch)
    speed = _fit(model, ds, len(train[0]))
    logits = model.predict(tf.data.Dataset.from_tensor_slices(test[0]).batch(batch), verbose=0)
    return {
        "policy": keras.config.dtype_policy().name,
        "jit_compile": str(model.jit_compile),
        "examples_per_s": round(speed, 2),
        "test_accuracy": _accuracy(logits, test[1]),
    }


def serve(model, tokenizer, packages, test):
    import numpy as np
    import tensorflow as tf

    from bert_tf.export import precision, serving
    from bert_tf.export.classifier_serving import ClassifierServing

    base = tempfile.mkdtemp(prefix="bf16_bench_")
    texts = test[0][: len(test[0]) - len(test[0]) % FLAGS.batch_size]
    batches = [
        tf.constant(texts[i : i + FLAGS.batch_size]) for i in range(0, len(texts), FLAGS.batch_size)
    ]
    out, logits, fns = {}, {}, {}
    for p in precision.PRECISIONS:
        module = ClassifierServing(
            precision.with_precision(model, p),
            tokenizer,
            FLAGS.max_seq_length,
            labels=packages,
        )
        result = serving.export_for_serving(module, base, name=f"docs_{p}", precision=p)
        fns[p] = tf.saved_model.load(result.path).signatures["serving_default"]
        logits[p] = np.concatenate([fns[p](text=b)["logits"].numpy() for b in batches])
    # Rounds taken in turn (a shared machine's load hits both); best kept.
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(3):
        for p, fn in fns.items():
            start = time.perf_counter()
            for b in batches:
                fn(text=b)
            best[p] = min(best[p], time.perf_counter() - start)
    for p, seconds in best.items():
        out[f"{p}_strings_per_s"] = round(len(texts) / seconds, 1)
    err = np.abs(logits["bfloat16"] - logits["float32"])
    out.update(
        speedup=round(out["bfloat16_strings_per_s"] / out["float32_strings_per_s"], 3),
        label_agreement=float(
            (logits["bfloat16"].argmax(-1) == logits["float32"].argmax(-1)).mean()
        ),
        logits_max_abs_error=float(err.max()),
        logits_mean_abs_error=float(err.mean()),
        float32_test_accuracy=_accuracy(logits["float32"], test[1][: len(texts)]),
        bfloat16_test_accuracy=_accuracy(logits["bfloat16"], test[1][: len(texts)]),
        strings=len(texts),
        batch_size=FLAGS.batch_size,
    )
    return out


def main(argv):
    del argv
    start = time.time()
    packages, train, test = _data()
    model, tokenizer, auto = train_bert_tf(packages, train, test, force=False)
    result = {"bench": "bfloat16", "train": {"bert_tf_bfloat16_flag": auto}}
    if not FLAGS.skip_forced:
        _, _, forced = train_bert_tf(packages, train, test, force=True)
        result["train"]["bert_tf_bfloat16_forced"] = forced
    result["train"]["keras_hub_float32"] = train_keras_hub(packages, train, test)
    kh = result["train"]["keras_hub_float32"]
    for name, figures in result["train"].items():
        if name != "keras_hub_float32":
            figures["speed_vs_keras_hub"] = round(
                figures["examples_per_s"] / kh["examples_per_s"], 3
            )
            figures["accuracy_points_vs_keras_hub"] = round(
                100 * (figures["test_accuracy"] - kh["test_accuracy"]), 2
            )
    result["train"].update(
        examples=len(train[0]),
        test_examples=len(test[0]),
        epochs=FLAGS.epochs,
        max_seq_length=FLAGS.max_seq_length,
        batch_size=FLAGS.batch_size,
    )
    result["serve"] = serve(model, tokenizer, packages, test)
    machine = _common.machine()
    result["goal"] = (
        "bf16 fine-tuning >= 1.4x keras-hub float32 at equal accuracy (0.5 point): "
        + (
            "judge on this machine"
            if machine.get("fast_bfloat16") or machine.get("gpus")
            else "not judgeable here (no AVX512-BF16/AMX, no GPU: bf16 is emulated, "
            "so --mixed_precision=bfloat16 trains in float32)"
        )
    )
    result["seconds"] = round(time.time() - start, 1)
    result["machine"] = machine
    _common.emit(result)


if __name__ == "__main__":
    app.run(main)
