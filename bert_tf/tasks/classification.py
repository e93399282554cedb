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

import csv
import dataclasses
import json
import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.tasks import common
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


@dataclasses.dataclass
class ClassificationData:
    """Examples read from a file.

    Attributes:
        texts: one tuple of 1 or 2 strings per example.
        labels: label strings (classification), floats (regression), or
            None when the file has no label column.
        lines: the line (CSV/TSV: the record's first line) of each example.
        source: the file name, for error messages.
    """

    texts: list
    labels: list | None
    lines: list
    source: str = ""


def _file_format(path: str, file_format: str | None) -> str:
    if file_format:
        fmt = file_format.lower()
    else:
        ext = os.path.splitext(path)[1].lower()
        fmt = {
            ".csv": "csv",
            ".tsv": "tsv",
            ".jsonl": "jsonl",
            ".json": "jsonl",
            ".txt": "tsv",
        }.get(ext, "")
    if fmt not in ("csv", "tsv", "jsonl"):
        raise ValueError(
            f"{path}: cannot tell the format (use .csv, .tsv or .jsonl, or "
            f"file_format=csv|tsv|jsonl), got {file_format or fmt!r}"
        )
    return fmt


def _rows(path: str, fmt: str):
    """Yields (line number, {column: value}) of a CSV/TSV/JSONL file."""
    try:
        f = open(path, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise FileNotFoundError(f"data file not found: {path!r}") from None
    with f:
        try:
            if fmt == "jsonl":
                for number, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise ValueError(
                            f"{path}:{number}:{e.colno}: malformed JSON line "
                            f"({e.msg}): {line.strip()[:80]!r}"
                        ) from None
                    if not isinstance(row, dict):
                        raise ValueError(
                            f"{path}:{number}: expected a JSON object, got {type(row).__name__}"
                        )
                    yield number, row, None
                return
            reader = csv.reader(f, delimiter="," if fmt == "csv" else "\t")
            try:
                header = next(reader)
            except StopIteration:
                raise ValueError(
                    f"{path}: the file is empty (a header row naming the columns is needed)"
                ) from None
            header = [h.strip() for h in header]
            while True:
                previous = reader.line_num
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    raise ValueError(
                        f"{path}:{previous + 1}: malformed {fmt.upper()} line ({e})"
                    ) from None
                number = previous + 1
                if not fields or fields == [""]:
                    continue
                if len(fields) != len(header):
                    raise ValueError(
                        f"{path}:{number}: malformed {fmt.upper()} line: "
                        f"{len(fields)} fields, but the header has "
                        f"{len(header)} ({', '.join(header)})"
                    )
                yield number, dict(zip(header, fields)), header
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not UTF-8 text ({e})") from None


def read_classification_file(
    path: str,
    text_columns: Sequence[str],
    label_column: str | None = "label",
    regression: bool = False,
    file_format: str | None = None,
    require_labels: bool = True,
) -> ClassificationData:
    """Reads single texts or pairs with their labels.

    Args:
        path: a `.csv`, `.tsv` (header row) or `.jsonl` file.
        text_columns: one or two column names (`["sentence1", "sentence2"]`).
        label_column: the label column; None (or, with
            `require_labels=False`, a column the file lacks) reads no labels.
        regression: labels are numbers.
        file_format: "csv", "tsv" or "jsonl"; None guesses from the extension.
        require_labels: raise if `label_column` is missing.

    Returns:
        A `ClassificationData`.

    Raises:
        FileNotFoundError: naming the file.
        ValueError: naming the file, line and column of a malformed line, a
            missing column, a missing or non-numeric label.
    """
    if isinstance(text_columns, str):
        text_columns = [c.strip() for c in text_columns.split(",") if c.strip()]
    text_columns = list(text_columns)
    if not 1 <= len(text_columns) <= 2:
        raise ValueError(f"text_columns must name 1 or 2 columns, got {text_columns!r}")
    fmt = _file_format(path, file_format)
    texts, labels, lines = [], [], []
    use_labels = label_column is not None
    checked = False
    for number, row, header in _rows(path, fmt):
        if not checked or header is None:
            # CSV/TSV: the header is checked once; JSONL: every object.
            columns = ", ".join(map(repr, row))
            where = f"{path}:1 (header)" if header else f"{path}:{number}"
            for column in text_columns:
                if column not in row:
                    raise ValueError(
                        f"{where}: no text column {column!r}; the columns are {columns}"
                    )
            if use_labels and label_column not in row:
                if require_labels:
                    raise ValueError(
                        f"{where}: no label column {label_column!r}; the columns are {columns}"
                    )
                if not checked:
                    use_labels = False
            checked = True
        example = []
        for column in text_columns:
            value = row[column]
            if not isinstance(value, str):
                raise ValueError(f"{path}:{number}: column {column!r} must be text, got {value!r}")
            example.append(value)
        texts.append(tuple(example))
        lines.append(number)
        if use_labels:
            value = row.get(label_column)
            if regression:
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"{path}:{number}: column {label_column!r}: {value!r} is not a number"
                    ) from None
                if not np.isfinite(value):
                    raise ValueError(
                        f"{path}:{number}: column {label_column!r}: {value!r} is not finite"
                    )
            else:
                if value is None or isinstance(value, (dict, list)) or (str(value).strip() == ""):
                    raise ValueError(
                        f"{path}:{number}: column {label_column!r}: missing "
                        f"or empty label {value!r}"
                    )
                value = str(value).strip()
            labels.append(value)
    if not texts:
        raise ValueError(f"{path}: no examples")
    return ClassificationData(texts, labels if use_labels else None, lines, path)


def label_list(labels: Sequence[str]) -> list:
    """The distinct labels in id order: numeric labels numerically, else sorted.

    >>> label_list(["10", "2", "2"])
    ['2', '10']
    """
    distinct = sorted(set(labels))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return distinct


def encode_labels(data: ClassificationData, labels: Sequence[str]) -> np.ndarray:
    """Label ids of `data.labels`; an unseen label raises, naming file and line.

    >>> d = ClassificationData([("a",), ("b",)], ["x", "y"], [2, 3], "f.tsv")
    >>> encode_labels(d, ["x", "y"]).tolist()
    [0, 1]
    """
    index = {label: i for i, label in enumerate(labels)}
    ids = np.zeros(len(data.labels), np.int32)
    for i, (label, line) in enumerate(zip(data.labels, data.lines)):
        if label not in index:
            raise ValueError(
                f"{data.source}:{line}: label {label!r} was not seen in "
                f"training; the model knows {', '.join(map(repr, labels))}"
            )
        ids[i] = index[label]
    return ids


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


def matthews_corrcoef(confusion: np.ndarray) -> float:
    """Multi-class MCC (Gorodkin's R_K) of a confusion matrix [true, pred]."""
    confusion = np.asarray(confusion, np.float64)
    t, p = confusion.sum(axis=1), confusion.sum(axis=0)
    c, s = np.trace(confusion), confusion.sum()
    denominator = np.sqrt((s * s - p @ p) * (s * s - t @ t))
    return float((c * s - t @ p) / denominator) if denominator else 0.0


def classification_metrics(y_true: Sequence[int], logits: np.ndarray) -> dict:
    """Accuracy, macro-F1 and MCC of `argmax(logits)` against `y_true`.

    Args:
        y_true: gold label ids [N].
        logits: [N, C] scores (or probabilities).

    Returns:
        `{"accuracy", "macro_f1", "mcc", "num_examples"}`.

    >>> m = classification_metrics([0, 1, 1], np.array([[2., 0], [0, 1], [3, 0]]))
    >>> round(m["accuracy"], 3), round(m["mcc"], 3)
    (0.667, 0.5)
    """
    y_true = np.asarray(y_true, np.int64)
    logits = np.asarray(logits)
    num_classes = logits.shape[-1]
    y_pred = logits.argmax(-1)
    confusion = tf.math.confusion_matrix(y_true, y_pred, num_classes=num_classes).numpy()
    # Macro-F1 over the classes present in gold or predicted labels.
    present = np.flatnonzero(confusion.sum(0) + confusion.sum(1))
    f1 = keras.metrics.F1Score(average="macro")
    eye = np.eye(num_classes, dtype="float32")
    f1.update_state(eye[y_true][:, present], eye[y_pred][:, present])
    return {
        "accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(f1.result()),
        "mcc": matthews_corrcoef(confusion),
        "num_examples": int(len(y_true)),
    }


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties get their average rank (as Spearman needs)."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts  # 0-based first rank of each value.
    return (first + (counts + 1) / 2.0)[inverse]


def regression_metrics(y_true: Sequence[float], y_pred: Sequence[float]) -> dict:
    """Pearson, Spearman, MSE of predictions.

    >>> m = regression_metrics([1., 2., 3.], [1., 4., 9.])
    >>> round(m["pearson"], 4), round(m["spearman"], 4)
    (0.9897, 1.0)
    """
    y_true = np.asarray(y_true, np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, np.float64).reshape(-1)

    def pearson(a, b):
        metric = keras.metrics.PearsonCorrelation(dtype="float64")
        metric.update_state(a, b)
        return float(metric.result())

    return {
        "pearson": pearson(y_true, y_pred),
        "spearman": pearson(_average_ranks(y_true), _average_ranks(y_pred)),
        "mse": float(np.mean((y_true - y_pred) ** 2)),
        "num_examples": int(len(y_true)),
    }


def _predict_outputs(model, dataset) -> np.ndarray:
    return np.asarray(model.predict(dataset, verbose=0))


def _metrics(model, dataset, y_true, regression: bool) -> dict:
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
    max_seq_length: int = 128,
    train_batch_size: int = 32,
    eval_batch_size: int = 64,
    learning_rate: float = 5e-5,
    num_train_epochs: float = 3.0,
    warmup_proportion: float = 0.1,
    weight_decay: float = 0.01,
    dropout: float = 0.1,
    jit_compile: bool = False,
    seed: int = 0,
    num_train_examples: int | None = None,
    text_columns: Sequence[str] = ("text",),
    verbose: int | str = "auto",
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
        max_seq_length, train_batch_size, eval_batch_size, learning_rate,
        num_train_epochs, warmup_proportion, weight_decay, dropout,
        jit_compile, seed: the usual knobs.
        num_train_examples: size of a `tf.data` training set (for the
            schedule).
        text_columns: recorded in `task.json` for `evaluate`/`predict`.
        verbose: `Model.fit` verbosity (progress bar by default).

    Returns:
        A dict: `output_dir`, `best_epoch`, `eval` metrics, `history`.
    """
    from bert_tf.heads import BertClassifier, BertRegressor

    keras.utils.set_random_seed(seed)
    preprocessor = BertPreprocessor(tokenizer, seq_length=max_seq_length)
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
            train, None, preprocessor, train_batch_size, shuffle=True, seed=seed
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
            train.texts, y, preprocessor, train_batch_size, shuffle=True, seed=seed
        )
    if not regression and len(labels) < 2:
        raise ValueError(f"classification needs at least 2 labels, got {list(labels)!r}")
    if regression:
        model = BertRegressor(encoder, dropout=dropout)
        loss = keras.losses.MeanSquaredError()
        metric = "pearson"
    else:
        model = BertClassifier(encoder, num_classes=len(labels), dropout=dropout)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metric = "macro_f1"
    steps = common.steps_for(num_train_examples, train_batch_size)
    epochs = max(1, int(np.ceil(num_train_epochs)))
    common.compile_model(
        model,
        loss,
        steps * num_train_epochs,
        learning_rate,
        warmup_proportion,
        weight_decay,
        jit_compile,
    )
    callbacks = []
    os.makedirs(output_dir, exist_ok=True)
    if eval_data is not None:
        if eval_data.labels is None:
            raise ValueError(f"{eval_data.source}: no labels to validate on")
        y_eval = (
            np.asarray(eval_data.labels, np.float32)
            if regression
            else encode_labels(eval_data, labels)
        )
        eval_ds = make_dataset(eval_data.texts, None, preprocessor, eval_batch_size)
        best = common.BestCheckpoint(
            lambda m: _metrics(m, eval_ds, y_eval, regression),
            metric,
            os.path.join(output_dir, "best.weights.h5"),
        )
        callbacks.append(best)
    history = model.fit(
        train_ds, epochs=epochs, callbacks=callbacks, verbose=verbose, shuffle=False
    )
    info = {
        "task": TASK_NAME,
        "regression": bool(regression),
        "labels": None if regression else list(labels),
        "text_columns": list(text_columns),
        "max_seq_length": int(max_seq_length),
        "do_lower_case": bool(tokenizer.lower_case),
    }
    result = {
        "output_dir": output_dir,
        "history": history.history,
        "best_epoch": None,
        "eval": None,
    }
    if callbacks:
        result["best_epoch"] = callbacks[0].best_epoch + 1
        result["eval"] = callbacks[0].best_metrics
        info["eval"] = result["eval"]
    common.save_task(output_dir, model, vocab_file, info)
    logging.info("fine-tuned classifier written to %s", output_dir)
    return result


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
    return _metrics(task.model, ds, y, regression)


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
    if output_file:
        common.write_jsonl(output_file, records)
    return records
