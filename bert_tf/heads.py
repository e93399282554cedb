"""Task models on top of a `BertEncoder` (keras-hub "task" manner).

Each head is a functional `keras.Model` whose first constructor argument is a
`BertEncoder` instance; `get_config` serializes the encoder, so every head
round-trips through `get_config` / `.keras` files.

Dimension legend: B = batch, S = sequence, H = hidden, P = masked positions
per example, V = vocabulary, C = classes.

Example (one encoder, every head):

>>> from bert_tf.encoder import BertEncoder
>>> enc = BertEncoder(vocab_size=50, hidden_size=16, num_hidden_layers=1,
...                   num_attention_heads=2, intermediate_size=32,
...                   max_position_embeddings=8)
>>> ids = keras.ops.ones((2, 8), "int32")
>>> x = {"input_word_ids": ids, "input_mask": ids, "input_type_ids": 0 * ids}
>>> tuple(BertClassifier(enc, num_classes=3)(x).shape)
(2, 3)
>>> BertRegressor(enc).output_shape
(None, 1)
>>> BertTokenClassifier(enc, num_classes=5).output_shape
(None, None, 5)
>>> out = BertSpanLabeler(enc)(x)
>>> tuple(out["start_logits"].shape), tuple(out["end_logits"].shape)
((2, 8), (2, 8))
>>> BertEmbedder(enc, pooling="mean", normalize=True).output_shape
(None, 16)
>>> positions = keras.ops.ones((2, 3), "int32")
>>> out = BertPretrainer(enc)({**x, "masked_lm_positions": positions})
>>> tuple(out["mlm_logits"].shape), tuple(out["nsp_logits"].shape)
((2, 3, 50), (2, 2))
"""

from __future__ import annotations

import keras
import keras_hub

from bert_tf.encoder import INPUT_NAMES, BertEncoder
from bert_tf.layers.activations import get_activation
from bert_tf.layers.pooling import ClsTokenPooling, MaskedMeanPooling

__all__ = [
    "BertPretrainer",
    "BertClassifier",
    "BertRegressor",
    "BertTokenClassifier",
    "BertSpanLabeler",
    "BertEmbedder",
]


def _inputs():
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in INPUT_NAMES}


def _check_encoder(encoder):
    if not isinstance(encoder, BertEncoder):
        raise TypeError(f"`encoder` must be a bert_tf.BertEncoder, got {type(encoder).__name__}.")


def _initializer(encoder):
    return keras.initializers.TruncatedNormal(stddev=encoder.initializer_range)


def _dropout_dense(x, encoder, units: int, dropout: float, dropout_name: str, dense_name: str):
    """Dropout, then a float32 dense layer (logits stay float32 under mixed precision)."""
    x = keras.layers.Dropout(dropout, name=dropout_name)(x)
    return keras.layers.Dense(
        units, kernel_initializer=_initializer(encoder), dtype="float32", name=dense_name
    )(x)


class _BertTask(keras.Model):
    """Shared config handling: the encoder is serialized in `get_config`."""

    # Heads that read only the sequence output set this False: the pooler
    # then gets no gradient, so it is left out of training (and Keras does
    # not warn, on every fit, that its variables have no gradients).
    uses_pooler = True

    def _without_unused_pooler(self, variables):
        if self.uses_pooler:
            return variables
        pooler = {id(v) for v in self.encoder.pooler.weights}
        return [v for v in variables if id(v) not in pooler]

    # Keras reads both: the train step the first, `optimizer.build` the second.
    @property
    def trainable_weights(self):
        return self._without_unused_pooler(super().trainable_weights)

    @property
    def trainable_variables(self):
        return self._without_unused_pooler(super().trainable_variables)

    def _task_config(self) -> dict:
        raise NotImplementedError

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        config["encoder"] = keras.saving.serialize_keras_object(self.encoder)
        config.update(self._task_config())
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


class _DropoutDenseTask(_BertTask):
    """A dropout + float32 dense layer on one encoder output (`head_input`).

    The shared body of the classifier, regressor and token classifier, which
    differ only in the output they read, their layer names and the name of
    their `units` argument, `units_arg` (each subclass keeps its own
    constructor, so its arguments stay its attributes and `get_config` keys).
    """

    head_input = "pooled_output"
    layer_names = ("classifier_dropout", "logits")
    units_arg = "num_classes"

    def __init__(self, encoder, units: int, dropout: float, **kwargs):
        _check_encoder(encoder)
        if int(units) < 1:
            raise ValueError(f"{self.units_arg} must be >= 1, got {units!r}.")
        inputs = _inputs()
        x = encoder(inputs)[self.head_input]  # [B, H] or [B, S, H]
        outputs = _dropout_dense(x, encoder, int(units), dropout, *self.layer_names)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.encoder = encoder
        setattr(self, self.units_arg, int(units))
        self.dropout = float(dropout)

    def _task_config(self):
        return {self.units_arg: getattr(self, self.units_arg), "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPretrainer(_BertTask):
    """BERT pre-training heads: masked LM and next-sentence prediction.

    The masked-LM head (`keras_hub.layers.MaskedLMHead`) gathers the
    sequence output at `masked_lm_positions` first, so dense + activation +
    LayerNorm and the output projection, tied to the encoder's word
    embeddings, plus an output bias, run only at the masked positions.
    The next-sentence head is a dense layer on the pooled output.

    Inputs: the encoder's three inputs plus `masked_lm_positions` [B, P]
    int32. Outputs: `mlm_logits` [B, P, V] and `nsp_logits` [B, 2].

    Args:
        encoder: a `BertEncoder`.
        mlm_activation: None (the encoder's `hidden_act`) or a
            `bert_config.json` activation name.
        **kwargs: `keras.Model` arguments.
    """

    def __init__(self, encoder, mlm_activation: str | None = None, **kwargs):
        _check_encoder(encoder)
        activation = get_activation(mlm_activation or encoder.hidden_act)
        masked_lm_head = keras_hub.layers.MaskedLMHead(
            token_embedding=encoder.word_embeddings,
            intermediate_activation=activation,
            layer_norm_epsilon=encoder.layer_norm_eps,
            kernel_initializer=_initializer(encoder),
            dtype=encoder.dtype_policy,
            name="masked_lm_head",
        )
        next_sentence_head = keras.layers.Dense(
            2,
            kernel_initializer=_initializer(encoder),
            dtype=encoder.dtype_policy,
            name="next_sentence_head",
        )
        inputs = _inputs()
        inputs["masked_lm_positions"] = keras.Input(
            shape=(None,), dtype="int32", name="masked_lm_positions"
        )
        outputs = encoder({k: inputs[k] for k in INPUT_NAMES})
        mlm_logits = masked_lm_head(
            outputs["sequence_output"], mask_positions=inputs["masked_lm_positions"]
        )  # [B, P, V]
        nsp_logits = next_sentence_head(outputs["pooled_output"])  # [B, 2]
        super().__init__(
            inputs=inputs,
            outputs={"mlm_logits": mlm_logits, "nsp_logits": nsp_logits},
            **kwargs,
        )
        self.encoder = encoder
        self.mlm_activation = mlm_activation
        self.masked_lm_head = masked_lm_head
        self.next_sentence_head = next_sentence_head

    def _task_config(self):
        return {"mlm_activation": self.mlm_activation}


@keras.saving.register_keras_serializable(package="bert_tf")
class BertClassifier(_DropoutDenseTask):
    """Sequence classifier: dropout + dense on the pooled output -> [B, C] logits.

    Args:
        encoder: a `BertEncoder`.
        num_classes: int. C.
        dropout: float. Dropout before the output layer.
        **kwargs: `keras.Model` arguments.
    """

    def __init__(self, encoder, num_classes: int, dropout: float = 0.1, **kwargs):
        super().__init__(encoder, num_classes, dropout, **kwargs)  # [B, C]


@keras.saving.register_keras_serializable(package="bert_tf")
class BertRegressor(_DropoutDenseTask):
    """Sequence regressor: dropout + linear on the pooled output -> [B, num_outputs].

    Args:
        encoder: a `BertEncoder`.
        num_outputs: int. Values predicted per example.
        dropout: float. Dropout before the output layer.
        **kwargs: `keras.Model` arguments.
    """

    layer_names = ("regressor_dropout", "values")
    units_arg = "num_outputs"

    def __init__(self, encoder, num_outputs: int = 1, dropout: float = 0.1, **kwargs):
        super().__init__(encoder, num_outputs, dropout, **kwargs)  # [B, num_outputs]


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTokenClassifier(_DropoutDenseTask):
    """Token classifier: dropout + dense on every token -> [B, S, C] logits.

    Args:
        encoder: a `BertEncoder`.
        num_classes: int. C, the number of tags (e.g. IOB2 `O`, `B-X`, `I-X`).
        dropout: float. Dropout before the output layer.
        **kwargs: `keras.Model` arguments.
    """

    uses_pooler = False
    head_input = "sequence_output"
    layer_names = ("token_dropout", "logits")

    def __init__(self, encoder, num_classes: int, dropout: float = 0.1, **kwargs):
        super().__init__(encoder, num_classes, dropout, **kwargs)  # [B, S, C]


@keras.saving.register_keras_serializable(package="bert_tf")
class SpanLogits(keras.layers.Layer):
    """Dense [H] -> 2, split into start and end logits, each [B, S] float32."""

    def __init__(self, initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.initializer_range = float(initializer_range)

    def build(self, inputs_shape):
        self.dense = keras.layers.Dense(
            2,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range),
            dtype="float32",
            name="dense",
        )
        self.dense.build(inputs_shape)
        self.built = True

    def call(self, inputs):
        logits = self.dense(inputs)  # [B, S, 2]
        # Slices, not tf.unstack: TFLite's UNPACK rejects an empty batch.
        start, end = logits[..., 0], logits[..., 1]  # 2 x [B, S]
        return start, end

    def compute_output_spec(self, inputs):
        shape = inputs.shape[:-1]
        return (
            keras.KerasTensor(shape, dtype="float32"),
            keras.KerasTensor(shape, dtype="float32"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(initializer_range=self.initializer_range)
        return config


@keras.saving.register_keras_serializable(package="bert_tf")
class BertSpanLabeler(_BertTask):
    """Span labeler (SQuAD): `start_logits` and `end_logits`, each [B, S].

    Args:
        encoder: a `BertEncoder`.
        **kwargs: `keras.Model` arguments.
    """

    uses_pooler = False

    def __init__(self, encoder, **kwargs):
        _check_encoder(encoder)
        inputs = _inputs()
        sequence = encoder(inputs)["sequence_output"]  # [B, S, H]
        start, end = SpanLogits(encoder.initializer_range, name="span_logits")(sequence)
        super().__init__(
            inputs=inputs,
            outputs={"start_logits": start, "end_logits": end},
            **kwargs,
        )
        self.encoder = encoder

    def _task_config(self):
        return {}


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEmbedder(_BertTask):
    """Sentence embedder: [B, H] from `pooling` "mean", "cls" or "pooled".

    "mean" is the masked mean over real tokens (sentence-transformers'
    pooling), "cls" the last layer's [CLS] vector, "pooled" BERT's tanh
    pooler output. `normalize=True` divides by the L2 norm.

    Args:
        encoder: a `BertEncoder`.
        pooling: str. "mean", "cls" or "pooled".
        normalize: bool. L2-normalize the embeddings.
        **kwargs: `keras.Model` arguments.
    """

    POOLINGS = ("mean", "cls", "pooled")

    def __init__(self, encoder, pooling: str = "mean", normalize: bool = False, **kwargs):
        _check_encoder(encoder)
        if pooling not in self.POOLINGS:
            raise ValueError(f"pooling={pooling!r}; expected one of {', '.join(self.POOLINGS)}.")
        inputs = _inputs()
        outputs = encoder(inputs)
        if pooling == "mean":
            x = MaskedMeanPooling(name="mean_pooling")(
                outputs["sequence_output"], inputs["input_mask"]
            )  # [B, H]
        elif pooling == "cls":
            x = ClsTokenPooling(name="cls_pooling")(outputs["sequence_output"])
        else:
            x = outputs["pooled_output"]  # [B, H]
        if normalize:
            x = keras.layers.UnitNormalization(dtype="float32", name="l2_normalize")(x)
        super().__init__(inputs=inputs, outputs=x, **kwargs)
        self.encoder = encoder
        self.pooling = pooling
        self.normalize = bool(normalize)

    def _task_config(self):
        return {"pooling": self.pooling, "normalize": self.normalize}
