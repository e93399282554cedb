"""Metrics of classifiers and regressors, equal to scikit-learn's and scipy's.

Classification: accuracy, macro-F1 (`keras.metrics.F1Score`, over the classes
that occur in gold or predicted labels, as scikit-learn does) and the
multi-class Matthews correlation coefficient. Regression: Pearson
(`keras.metrics.PearsonCorrelation`), Spearman (Pearson of average ranks) and
the mean squared error.
"""

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf


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
