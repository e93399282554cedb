"""Text classification and regression on raw strings.

Data: CSV / TSV (with a header row) or JSON lines, single texts or text
pairs, named text and label columns; or any `tf.data.Dataset` of
`(text or (text_a, text_b), label_id)`. String labels are mapped to ids
(numeric-looking labels in numeric order, others sorted) and the list is
saved with the model in `task.json`.

Metrics: accuracy, macro-F1 (`keras.metrics.F1Score`, over the classes that
occur in the gold or predicted labels, as scikit-learn's default) and the
Matthews correlation coefficient; Pearson (`keras.metrics.PearsonCorrelation`)
and Spearman (Pearson of average ranks) for regression.

Example:

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "train.tsv")
>>> _ = open(path, "w").write("sentence\\tlabel\\ngood film\\tpos\\nbad\\tneg\\n")
>>> data = read_classification_file(path, ["sentence"], "label")
>>> data.texts, data.labels
([('good film',), ('bad',)], ['pos', 'neg'])
>>> label_list(data.labels)
['neg', 'pos']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bert_tf.heads import BertClassifier, BertRegressor
from bert_tf.tasks import common
from bert_tf.tasks.classification_data import (
    ClassificationData,
    encode_labels,
    label_list,
    read_classification_file,
)
from bert_tf.tasks.classification_metrics import classification_metrics, regression_metrics
from bert_tf.text.preprocessor import BertPreprocessor

__all__ = [
    "ClassificationData",
    "classification_metrics",
    "encode_labels",
    "evaluate_classifier",
    "finetune_classifier",
    "label_list",
    "make_dataset",
    "predict_classifier",
    "read_classification_file",
    "regression_metrics",
]

TASK_NAME = "classify"


def _text_tensors(texts: Sequence[tuple]):
    """[N] string tensor, or a tuple of two for pairs."""
    width = len(texts[0])
    columns = tuple(tf.constant([t[i] for t in texts], tf.string) for i in range(width))
    return columns[0] if width == 1 else columns


def make_dataset(
    texts: Sequence[tuple] | tf.data.Dataset,
    labels: Any,
    preprocessor: BertPreprocessor,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """A batched dataset of preprocessed raw strings (tokenized in tf.data).

    Args:
        texts: tuples of 1 or 2 strings, or an unbatched `tf.data.Dataset` of
            `(text or (text_a, text_b), label)` (then `labels` is ignored).
        labels: label ids / values [N], or None for prediction.
        preprocessor: the `BertPreprocessor`.
        batch_size: examples per batch.
        shuffle: shuffle before batching.
        seed: shuffle seed.

    Returns:
        A dataset of `(model inputs, labels)` or of model inputs.
    """
    if isinstance(texts, tf.data.Dataset):
        ds = texts
    else:
        x = _text_tensors(texts)
        ds = tf.data.Dataset.from_tensor_slices(x if labels is None else (x, np.asarray(labels)))
    if shuffle:
        ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def pack(x, y=None):
        features = preprocessor(list(x) if isinstance(x, tuple) else x)
        return features if y is None else (features, y)

    return ds.map(pack, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _predict_outputs(model, dataset) -> np.ndarray:
    return np.asarray(model.predict(dataset, verbose=0))


def score_model(model, dataset, y_true, regression: bool) -> dict:
    """Task metrics of `model` on a dataset of inputs with gold `y_true`."""
    out = _predict_outputs(model, dataset)
    if regression:
        return regression_metrics(y_true, out[:, 0])
    return classification_metrics(y_true, out)


def finetune_classifier(
    train: ClassificationData | tf.data.Dataset,
    encoder,
    tokenizer,
    vocab_file: str,
    output_dir: str,
    eval_data: ClassificationData | None = None,
    labels: Sequence[str] | None = None,
    regression: bool = False,
    settings: common.FinetuneSettings | None = None,
    num_train_examples: int | None = None,
    text_columns: Sequence[str] = ("text",),
    verbose: int | str = "auto",
    **overrides: Any,
) -> dict:
    """Fine-tunes a classifier (or regressor) with `Model.fit` on raw strings.

    The best epoch by the validation metric (macro-F1 / Pearson; training
    loss when there is no validation data) is kept and saved with
    `common.save_task` to `output_dir`.

    Args:
        train: the training examples, or an unbatched `tf.data.Dataset` of
            `(text or (text_a, text_b), label id / value)` (then pass
            `labels` and `num_train_examples`).
        encoder: the `BertEncoder` to fine-tune.
        tokenizer: its `BertTokenizer`.
        vocab_file: the tokenizer's vocab.txt (saved with the model).
        output_dir: where the model folder is written.
        eval_data: validation examples (with labels), or None.
        labels: the label list; None derives it from `train`.
        regression: fit a `BertRegressor` on float labels.
        settings: the `FinetuneSettings` (default: its defaults).
        num_train_examples: size of a `tf.data` training set (for the
            schedule).
        text_columns: recorded in `task.json` for `evaluate`/`predict`.
        verbose: `Model.fit` verbosity (progress bar by default).
        **overrides: `FinetuneSettings` fields replacing those of `settings`
            (`learning_rate=2e-5`, ...).

    Returns:
        A dict: `output_dir`, `best_epoch`, `eval` metrics, `history`.
    """
    s = common.finetune_settings("finetune_classifier", settings, overrides)
    keras.utils.set_random_seed(s.seed)
    preprocessor = BertPreprocessor(tokenizer, seq_length=s.max_seq_length)
    if isinstance(train, tf.data.Dataset):
        if not regression and labels is None:
            raise ValueError("a tf.data training set needs `labels`")
        if not num_train_examples:
            num_train_examples = int(train.cardinality())
            if num_train_examples < 0:
                raise ValueError(
                    "a tf.data training set of unknown size needs `num_train_examples`"
                )
        train_ds = make_dataset(
            train, None, preprocessor, s.train_batch_size, shuffle=True, seed=s.seed
        )
    else:
        if train.labels is None:
            raise ValueError(f"{train.source}: no labels to train on")
        if regression:
            y = np.asarray(train.labels, np.float32)
        else:
            labels = list(labels) if labels else label_list(train.labels)
            y = encode_labels(train, labels)
        num_train_examples = len(train.texts)
        train_ds = make_dataset(
            train.texts, y, preprocessor, s.train_batch_size, shuffle=True, seed=s.seed
        )
    if not regression and len(labels) < 2:
        raise ValueError(f"classification needs at least 2 labels, got {list(labels)!r}")
    if regression:
        model = BertRegressor(encoder, dropout=s.dropout)
        loss = keras.losses.MeanSquaredError()
        metric = "pearson"
    else:
        model = BertClassifier(encoder, num_classes=len(labels), dropout=s.dropout)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metric = "macro_f1"
    model.compile(
        optimizer=common.optimizer_for(s, num_train_examples),
        loss=loss,
        jit_compile=bool(s.jit_compile),
    )
    best = None
    if eval_data is not None:
        if eval_data.labels is None:
            raise ValueError(f"{eval_data.source}: no labels to validate on")
        y_eval = (
            np.asarray(eval_data.labels, np.float32)
            if regression
            else encode_labels(eval_data, labels)
        )
        eval_ds = make_dataset(eval_data.texts, None, preprocessor, s.eval_batch_size)
        best = common.best_checkpoint(
            output_dir, lambda m: score_model(m, eval_ds, y_eval, regression), metric
        )
    info = {
        "task": TASK_NAME,
        "regression": bool(regression),
        "labels": None if regression else list(labels),
        "text_columns": list(text_columns),
        "max_seq_length": int(s.max_seq_length),
        "do_lower_case": bool(tokenizer.lower_case),
    }
    return common.fit_and_save(
        model, train_ds, s.num_train_epochs, output_dir, vocab_file, info, verbose, best
    )


def _load(model_dir: str):
    task = common.load_task(model_dir, TASK_NAME)
    preprocessor = BertPreprocessor(task.tokenizer, seq_length=task.info["max_seq_length"])
    return task, preprocessor


def evaluate_classifier(model_dir: str, data: ClassificationData, batch_size: int = 64) -> dict:
    """Metrics of a fine-tuned model folder on labelled examples."""
    task, preprocessor = _load(model_dir)
    if data.labels is None:
        raise ValueError(f"{data.source}: no labels to evaluate against")
    regression = task.info["regression"]
    y = (
        np.asarray(data.labels, np.float32)
        if regression
        else encode_labels(data, task.info["labels"])
    )
    ds = make_dataset(data.texts, None, preprocessor, batch_size)
    return score_model(task.model, ds, y, regression)


def predict_classifier(
    model_dir: str, data: ClassificationData, output_file: str | None = None, batch_size: int = 64
) -> list:
    """Predictions of a fine-tuned model folder, optionally to JSON lines.

    Each record: `line`, `text`, `label` (or `value`), `probabilities` per
    label, and `gold` when the data has labels.
    """
    task, preprocessor = _load(model_dir)
    if data.labels is not None and not task.info["regression"]:
        encode_labels(data, task.info["labels"])  # Names unseen labels.
    ds = make_dataset(data.texts, None, preprocessor, batch_size)
    out = _predict_outputs(task.model, ds)
    records = []
    for i, (text, line) in enumerate(zip(data.texts, data.lines)):
        record = {"line": line, "text": list(text) if len(text) > 1 else text[0]}
        if task.info["regression"]:
            record["value"] = float(out[i, 0])
        else:
            probs = tf.nn.softmax(out[i]).numpy()
            labels = task.info["labels"]
            record["label"] = labels[int(probs.argmax())]
            record["probabilities"] = {label: round(float(p), 6) for label, p in zip(labels, probs)}
        if data.labels is not None:
            record["gold"] = data.labels[i]
        records.append(record)
    return common.predictions_to(output_file, records)
