"""Losses and metrics over labelled positions only (masked LM, tagging).

Labels equal to `ignore_class` (default -1) mark unused positions, such as
the padded prediction slots of masked LM. The loss is averaged per example,
then over the batch: that is what `tf.distribute` sums correctly across
replicas (each replica's mean over its examples, scaled by the replica
count), so a multi-worker run computes the same loss as one worker with the
same global batch. Keras' own `ignore_class` averages over the valid
positions of each replica's batch instead.

Example:

>>> loss = MaskedSparseCategoricalCrossentropy()
>>> y_true = keras.ops.convert_to_tensor([[1, -1]])
>>> y_pred = keras.ops.convert_to_tensor([[[0.0, 0.0], [5.0, -5.0]]])
>>> round(float(loss(y_true, y_pred)), 4)  # ln 2: only position 0 counts
0.6931
"""

import keras
from keras import ops

__all__ = [
    "MaskedSparseCategoricalCrossentropy",
    "MaskedSparseCategoricalAccuracy",
]


@keras.saving.register_keras_serializable(package="bert_tf")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy averaged over each example's labelled positions.

    Args:
        from_logits: bool. Whether `y_pred` holds logits.
        ignore_class: int. Label of positions without a target.
        reduction: Keras reduction over the per-example losses [B].
        name: str.
        dtype: loss dtype (float32; float16 logits are cast up first).

    Call arguments:
        y_true: int labels [B, P].
        y_pred: scores [B, P, V].

    Returns:
        Per-example losses [B], reduced by `reduction`.
    """

    def __init__(
        self,
        from_logits: bool = True,
        ignore_class: int = -1,
        reduction: str = "sum_over_batch_size",
        name: str = "masked_sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.ignore_class = int(ignore_class)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        y_pred = ops.cast(y_pred, "float32")
        valid = ops.not_equal(y_true, self.ignore_class)  # [B, P]
        labels = ops.where(valid, y_true, 0)
        per_position = ops.sparse_categorical_crossentropy(
            labels, y_pred, from_logits=self.from_logits
        )  # [B, P]
        weights = ops.cast(valid, "float32")
        total = ops.sum(per_position * weights, axis=-1)  # [B]
        return total / ops.maximum(ops.sum(weights, axis=-1), 1.0)

    def get_config(self):
        config = super().get_config()
        config.update(from_logits=self.from_logits, ignore_class=self.ignore_class)
        return config


@keras.saving.register_keras_serializable(package="bert_tf")
class MaskedSparseCategoricalAccuracy(keras.metrics.Mean):
    """Accuracy over the positions whose label is not `ignore_class`.

    Args:
        ignore_class: int. Label of positions without a target.
        name: str.
        dtype: metric dtype.

    Example:

    >>> m = MaskedSparseCategoricalAccuracy()
    >>> m.update_state(keras.ops.convert_to_tensor([[1, 0, -1]]),
    ...                keras.ops.convert_to_tensor([[[0., 1.], [0., 1.], [1., 0.]]]))
    >>> float(m.result())
    0.5
    """

    def __init__(self, ignore_class: int = -1, name: str = "accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.ignore_class = int(ignore_class)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        valid = ops.cast(ops.not_equal(y_true, self.ignore_class), "float32")
        if sample_weight is not None:
            valid = valid * ops.cast(sample_weight, "float32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        correct = ops.cast(ops.equal(predicted, y_true), "float32")
        return super().update_state(correct, sample_weight=valid)

    def get_config(self):
        config = super().get_config()
        config.update(ignore_class=self.ignore_class)
        return config
