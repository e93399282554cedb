"""Poolers: BERT's tanh [CLS] pooler and masked mean pooling.

Dimension legend: B = batch, S = sequence, H = hidden.
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["BertPooler", "ClsTokenPooling", "MaskedMeanPooling"]


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPooler(keras.layers.Layer):
    """BERT's pooler: `tanh(W h_[CLS] + b)` on the first token.

    Args:
        initializer_range: float. Stddev of the truncated-normal kernel.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    >>> tuple(BertPooler()(keras.random.normal((2, 5, 8))).shape)
    (2, 8)
    """

    def __init__(self, initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.initializer_range = float(initializer_range)

    def build(self, inputs_shape):
        self.dense = keras.layers.Dense(
            inputs_shape[-1],
            activation="tanh",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range),
            dtype=self.dtype_policy,
            name="dense",
        )
        self.dense.build((inputs_shape[0], inputs_shape[-1]))
        self.built = True

    def call(self, inputs):
        return self.dense(inputs[:, 0, :])  # [B, S, H] -> [B, H]

    def compute_output_spec(self, inputs):
        return keras.KerasTensor((inputs.shape[0], inputs.shape[-1]), dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(initializer_range=self.initializer_range)
        return config


@keras.saving.register_keras_serializable(package="bert_tf")
class ClsTokenPooling(keras.layers.Layer):
    """Returns the first ([CLS]) token's vector, [B, S, H] -> [B, H].

    Example:

    >>> tuple(ClsTokenPooling()(keras.ops.ones((2, 5, 8))).shape)
    (2, 8)
    """

    def call(self, inputs):
        return inputs[:, 0, :]  # [B, H]

    def compute_output_spec(self, inputs):
        return keras.KerasTensor((inputs.shape[0], inputs.shape[-1]), dtype=inputs.dtype)


@keras.saving.register_keras_serializable(package="bert_tf")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean over the real (mask 1) tokens, as sentence-transformers pools.

    Computed in float32; the sum of the mask is clipped at 1e-9 like
    sentence-transformers.

    Example:

    >>> x = keras.ops.convert_to_tensor([[[1.0], [3.0], [100.0]]])
    >>> m = keras.ops.convert_to_tensor([[1, 1, 0]])
    >>> keras.ops.convert_to_numpy(MaskedMeanPooling()(x, m)).tolist()
    [[2.0]]
    """

    def call(self, inputs, input_mask):
        x = tf.cast(inputs, tf.float32)  # [B, S, H]
        # expand_dims, not [:, :, newaxis]: TFLite has no builtin for a
        # new-axis StridedSlice of dynamic shape.
        mask = tf.expand_dims(tf.cast(input_mask, tf.float32), -1)  # [B, S, 1]
        total = tf.reduce_sum(x * mask, axis=1)  # [B, H]
        count = tf.maximum(tf.reduce_sum(mask, axis=1), 1e-9)  # [B, 1]
        return total / count  # [B, H]

    def compute_output_spec(self, inputs, input_mask):
        return keras.KerasTensor((inputs.shape[0], inputs.shape[-1]), dtype="float32")
