"""BERT's post-LayerNorm transformer block and its attention-mask bias.

Dimension legend (as in google-research/bert modeling.py):
    B = batch size, S = query sequence length, T = key sequence length (= S),
    H = hidden size, N = number of attention heads, D = head size (H / N),
    I = intermediate (feed-forward) size.

Why our own block rather than `keras_hub.layers.TransformerEncoder`:
  * one fused [H, 3H] query/key/value projection instead of three matmuls
    (fewer, larger GEMMs: faster on CPU and with XLA);
  * the attention-mask bias is computed once per model (`AttentionMaskBias`),
    not re-derived from the mask in every layer;
  * the scores are explicitly cast to float32 before the mask is added and
    the softmax is taken, under every mixed-precision policy;
  * the dense layers run on [B * S, H] rows, where TF fuses each MatMul
    with its bias add, and the attention products are MatMuls;
  * the attention probabilities are an optional output of the block.
LayerNorm is `keras.layers.LayerNormalization`, which computes in float32
under `mixed_float16` / `mixed_bfloat16` (`keras.ops.layer_normalization`).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from bert_tf.layers.activations import get_activation

__all__ = ["AttentionMaskBias", "BertTransformerBlock"]

# Added to the scores of padded key positions. exp(-10000 + s) is exactly 0 in
# float32 for any realistic score s, so this equals Hugging Face's
# finfo(float32).min on every row that has at least one real token.
_MASK_BIAS = -10000.0


@keras.saving.register_keras_serializable(package="bert_tf")
class AttentionMaskBias(keras.layers.Layer):
    """Turns a [B, T] 0/1 padding mask into a [B, 1, 1, T] float32 score bias.

    Example:

    >>> bias = AttentionMaskBias()(keras.ops.convert_to_tensor([[1, 1, 0]]))
    >>> keras.ops.convert_to_numpy(bias).tolist()
    [[[[0.0, 0.0, -10000.0]]]]
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def call(self, input_mask):
        mask = tf.cast(input_mask, tf.float32)  # [B, T]
        bias = (mask - 1.0) * -_MASK_BIAS  # [B, T]; 0 or _MASK_BIAS
        # expand_dims, not [:, newaxis, newaxis, :]: TFLite has no builtin
        # for a new-axis StridedSlice when both B and T are dynamic.
        return tf.expand_dims(tf.expand_dims(bias, 1), 1)  # [B, 1, 1, T]

    def compute_output_spec(self, input_mask):
        return keras.KerasTensor((input_mask.shape[0], 1, 1, input_mask.shape[1]), dtype="float32")


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTransformerBlock(keras.layers.Layer):
    """One post-LayerNorm BERT block: self-attention then feed-forward.

    `y = LN(x + Dropout(Attention(x)))`, `out = LN(y + Dropout(FFN(y)))`,
    with `FFN(y) = W2 act(W1 y + b1) + b2`.

    Variables (named like the sublayers): `qkv` ([H, 3H] kernel whose columns
    are query, key, value, each head-major [N, D]), `attention_output`,
    `attention_layer_norm`, `intermediate`, `output_dense`,
    `output_layer_norm`.

    Args:
        num_attention_heads: int. N; must divide the input width H.
        intermediate_size: int. I, width of the feed-forward inner layer.
        hidden_act: str. A `bert_config.json` activation name ("gelu" is the
            exact erf GELU).
        hidden_dropout_prob: float. Dropout after each sublayer.
        attention_probs_dropout_prob: float. Dropout on the probabilities.
        layer_norm_eps: float. LayerNorm epsilon.
        initializer_range: float. Stddev of the truncated-normal kernels.
        return_attention_probs: bool. If True, `call` returns
            `(output, probs)` with probs [B, N, S, T] float32.
        **kwargs: `keras.layers.Layer` arguments (name, dtype...).

    Call args:
        inputs: [B, S, H] float tensor.
        attention_bias: [B, 1, 1, T] float32, from `AttentionMaskBias`.
        training: bool, enables dropout.

    Example:

    >>> block = BertTransformerBlock(num_attention_heads=2, intermediate_size=32)
    >>> x = keras.random.normal((3, 5, 16))
    >>> bias = AttentionMaskBias()(keras.ops.ones((3, 5), "int32"))
    >>> tuple(block(x, bias).shape)
    (3, 5, 16)
    """

    def __init__(
        self,
        num_attention_heads: int,
        intermediate_size: int,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        layer_norm_eps: float = 1e-12,
        initializer_range: float = 0.02,
        return_attention_probs: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_attention_heads = int(num_attention_heads)
        self.intermediate_size = int(intermediate_size)
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = float(hidden_dropout_prob)
        self.attention_probs_dropout_prob = float(attention_probs_dropout_prob)
        self.layer_norm_eps = float(layer_norm_eps)
        self.initializer_range = float(initializer_range)
        self.return_attention_probs = bool(return_attention_probs)
        self._activation = get_activation(hidden_act)

    def _dense(self, units, name, activation=None):
        return keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range),
            dtype=self.dtype_policy,
            name=name,
        )

    def _layer_norm(self, name):
        return keras.layers.LayerNormalization(
            epsilon=self.layer_norm_eps, dtype=self.dtype_policy, name=name
        )

    def build(self, inputs_shape, attention_bias_shape=None):
        hidden = inputs_shape[-1]
        if hidden % self.num_attention_heads:
            raise ValueError(
                f"{self.name}: hidden size {hidden} is not divisible by "
                f"num_attention_heads={self.num_attention_heads}."
            )
        self.hidden_size = hidden
        self.head_size = hidden // self.num_attention_heads
        self.qkv = self._dense(3 * hidden, "qkv")
        self.qkv.build(inputs_shape)
        self.attention_output = self._dense(hidden, "attention_output")
        self.attention_output.build(inputs_shape)
        self.attention_layer_norm = self._layer_norm("attention_layer_norm")
        self.attention_layer_norm.build(inputs_shape)
        self.intermediate = self._dense(
            self.intermediate_size, "intermediate", activation=self._activation
        )
        self.intermediate.build(inputs_shape)
        self.output_dense = self._dense(hidden, "output_dense")
        self.output_dense.build(tuple(inputs_shape[:-1]) + (self.intermediate_size,))
        self.output_layer_norm = self._layer_norm("output_layer_norm")
        self.output_layer_norm.build(inputs_shape)
        self.attention_dropout = keras.layers.Dropout(
            self.attention_probs_dropout_prob, dtype=self.dtype_policy
        )
        self.hidden_dropout = keras.layers.Dropout(
            self.hidden_dropout_prob, dtype=self.dtype_policy
        )
        self.built = True

    def call(self, inputs, attention_bias, training=None):
        n, d = self.num_attention_heads, self.head_size
        shape = tf.shape(inputs)
        batch, seq = shape[0], shape[1]
        # The dense layers see [B * S, H] rows: a 2-D MatMul + BiasAdd, which
        # TF fuses into one kernel (a rank-3 input leaves the bias add
        # apart), and the attention uses MatMul, not Einsum (its CPU kernel
        # is slower for these small products). In float32 the same values as
        # the einsum form, bit for bit; 5-13% faster in graph mode, unchanged
        # with XLA (MiniLM, CPU).
        x = tf.reshape(inputs, [-1, n * d])  # [B * S, H]
        qkv = self.qkv(x)  # [B * S, 3H]
        qkv = tf.reshape(qkv, [batch, seq, 3 * n, d])  # [B, S, 3N, D]
        # 4-D slices along the head axis, not tf.unstack of a 5-D tensor:
        # TFLite's UNPACK rejects an empty batch, and a 5-D slice of dynamic
        # shape has no TFLite builtin.
        qkv = tf.transpose(qkv, [0, 2, 1, 3])  # [B, 3N, S, D]
        query, key, value = qkv[:, :n], qkv[:, n : 2 * n], qkv[:, 2 * n :]  # 3 x [B, N, S, D]
        scores = tf.matmul(query, key, transpose_b=True)  # [B, N, S, T]
        # Softmax in float32 under every policy.
        scores = tf.cast(scores, tf.float32) * (1.0 / math.sqrt(d))
        # Keras autocasts call arguments to the compute dtype; the bias (0 or
        # -10000, exact in bfloat16 up to rounding) goes back to float32.
        scores = scores + tf.cast(attention_bias, tf.float32)  # [B, N, S, T]
        # softmax(scores) @ value with the normalization deferred: the
        # [B, N, S, T] weights are exponentiated once and the division by the
        # row sums happens on the [B, N, S, D] context, which is T / D times
        # smaller. Same math; with XLA on CPU it halves the softmax + PV time
        # compared with tf.nn.softmax followed by the matmul.
        row_max = tf.stop_gradient(tf.reduce_max(scores, axis=-1, keepdims=True))
        weights = tf.exp(scores - row_max)  # [B, N, S, T], unnormalized
        row_sum = tf.reduce_sum(weights, axis=-1, keepdims=True)  # [B, N, S, 1]
        dropped = self.attention_dropout(weights, training=training)
        dropped = tf.cast(dropped, value.dtype)
        context = tf.matmul(dropped, value)  # [B, N, S, D]
        context = tf.cast(tf.cast(context, tf.float32) / row_sum, value.dtype)
        context = tf.transpose(context, [0, 2, 1, 3])  # [B, S, N, D]
        context = tf.reshape(context, [-1, n * d])  # [B * S, H]
        attention = self.attention_output(context)  # [B * S, H]
        attention = self.hidden_dropout(attention, training=training)
        x = self.attention_layer_norm(x + attention)  # [B * S, H]
        inner = self.intermediate(x)  # [B * S, I]
        out = self.output_dense(inner)  # [B * S, H]
        out = self.hidden_dropout(out, training=training)
        out = self.output_layer_norm(x + out)  # [B * S, H]
        out = tf.reshape(out, [batch, seq, n * d])  # [B, S, H]
        if self.return_attention_probs:
            return out, weights / row_sum  # [B, N, S, T] float32
        return out

    def compute_output_spec(self, inputs, attention_bias, training=None):
        out = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if self.return_attention_probs:
            b, s = inputs.shape[0], inputs.shape[1]
            probs = keras.KerasTensor((b, self.num_attention_heads, s, s), dtype="float32")
            return out, probs
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            layer_norm_eps=self.layer_norm_eps,
            initializer_range=self.initializer_range,
            return_attention_probs=self.return_attention_probs,
        )
        return config
