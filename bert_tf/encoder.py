"""The BERT encoder as a Keras 3 functional model.

Dimension legend (as in google-research/bert modeling.py):
    B = batch size, S = sequence length (<= max_position_embeddings),
    H = hidden size, N = number of attention heads, D = head size (H / N),
    I = intermediate size, V = vocabulary size, L = number of layers.

Math (exactly BERT's): embeddings = LN(word + position + token_type), dropout;
L post-LayerNorm blocks with exact erf GELU ("gelu"); pooled output =
tanh(W h_[CLS] + b).

Example:

>>> enc = BertEncoder(vocab_size=50, hidden_size=16, num_hidden_layers=2,
...                   num_attention_heads=2, intermediate_size=32,
...                   max_position_embeddings=8)
>>> ids = keras.ops.ones((3, 8), "int32")
>>> out = enc({"input_word_ids": ids, "input_mask": ids,
...            "input_type_ids": keras.ops.zeros((3, 8), "int32")})
>>> tuple(out["sequence_output"].shape), tuple(out["pooled_output"].shape)
((3, 8, 16), (3, 16))
>>> len(out["encoder_outputs"])
2
"""

from __future__ import annotations

from typing import Any

import keras
import keras_hub

from bert_tf.config import PRESETS, BertConfig
from bert_tf.layers.pooling import BertPooler
from bert_tf.layers.transformer import AttentionMaskBias, BertTransformerBlock

__all__ = ["BertEncoder", "build_encoder"]

INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEncoder(keras.Model):
    """BERT encoder: inputs `input_word_ids`, `input_mask`, `input_type_ids`.

    A functional model (keras-hub `Backbone` manner). The constructor
    arguments are `BertConfig`'s fields, so `BertEncoder(**cfg.to_dict())`
    builds a config; they are also attributes and `get_config` keys.

    Outputs (a dict):
        sequence_output: [B, S, H], the last layer.
        pooled_output: [B, H], tanh pooler on [CLS].
        encoder_outputs: list of L tensors [B, S, H], every layer's output.
        attention_probs: list of L float32 tensors [B, N, S, S]; only with
            `output_attention_probs=True`.

    Layers (by name): `word_embeddings` (`keras_hub.layers.ReversibleEmbedding`,
    tied to the masked-LM output), `position_embedding`
    (`keras_hub.layers.PositionEmbedding`), `type_embeddings`,
    `embeddings_layer_norm`, `embeddings_dropout`, `attention_bias`,
    `transformer_layer_{i}` (`BertTransformerBlock`), `pooler`
    (`BertPooler`).

    Args:
        vocab_size: int. V.
        hidden_size: int. H.
        num_hidden_layers: int. L.
        num_attention_heads: int. N.
        intermediate_size: int. I.
        hidden_act: str. Feed-forward activation; "gelu" is the exact erf GELU.
        hidden_dropout_prob: float.
        attention_probs_dropout_prob: float.
        max_position_embeddings: int. Longest accepted sequence.
        type_vocab_size: int.
        initializer_range: float.
        layer_norm_eps: float.
        output_attention_probs: bool. Adds the `attention_probs` output.
        dtype: None, a dtype or a `keras.DTypePolicy` name such as
            "mixed_bfloat16" (softmax and LayerNorm stay float32).
        **kwargs: `keras.Model` arguments (e.g. `name`).
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 2,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        output_attention_probs: bool = False,
        dtype: Any = None,
        **kwargs,
    ):
        # Validates every field (raises ValueError naming it).
        config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads,
            intermediate_size=intermediate_size,
            hidden_act=hidden_act,
            hidden_dropout_prob=hidden_dropout_prob,
            attention_probs_dropout_prob=attention_probs_dropout_prob,
            max_position_embeddings=max_position_embeddings,
            type_vocab_size=type_vocab_size,
            initializer_range=initializer_range,
            layer_norm_eps=layer_norm_eps,
        )

        def init():
            return keras.initializers.TruncatedNormal(stddev=initializer_range)

        # === Layers ===
        word_embeddings = keras_hub.layers.ReversibleEmbedding(
            vocab_size,
            hidden_size,
            tie_weights=True,
            embeddings_initializer=init(),
            dtype=dtype,
            name="word_embeddings",
        )
        position_embedding = keras_hub.layers.PositionEmbedding(
            sequence_length=max_position_embeddings,
            initializer=init(),
            dtype=dtype,
            name="position_embedding",
        )
        type_embeddings = keras.layers.Embedding(
            type_vocab_size,
            hidden_size,
            embeddings_initializer=init(),
            dtype=dtype,
            name="type_embeddings",
        )
        embeddings_add = keras.layers.Add(dtype=dtype, name="embeddings_add")
        embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_eps, dtype=dtype, name="embeddings_layer_norm"
        )
        embeddings_dropout = keras.layers.Dropout(
            hidden_dropout_prob, dtype=dtype, name="embeddings_dropout"
        )
        attention_bias_layer = AttentionMaskBias(dtype=dtype, name="attention_bias")
        blocks = [
            BertTransformerBlock(
                num_attention_heads=num_attention_heads,
                intermediate_size=intermediate_size,
                hidden_act=hidden_act,
                hidden_dropout_prob=hidden_dropout_prob,
                attention_probs_dropout_prob=attention_probs_dropout_prob,
                layer_norm_eps=layer_norm_eps,
                initializer_range=initializer_range,
                return_attention_probs=output_attention_probs,
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_hidden_layers)
        ]
        pooler = BertPooler(initializer_range=initializer_range, dtype=dtype, name="pooler")

        # === Functional graph ===
        inputs = {
            name: keras.Input(shape=(None,), dtype="int32", name=name) for name in INPUT_NAMES
        }
        word = word_embeddings(inputs["input_word_ids"])  # [B, S, H]
        position = position_embedding(word)  # [B, S, H]
        token_type = type_embeddings(inputs["input_type_ids"])  # [B, S, H]
        x = embeddings_add([word, position, token_type])  # [B, S, H]
        x = embeddings_layer_norm(x)
        x = embeddings_dropout(x)
        bias = attention_bias_layer(inputs["input_mask"])  # [B, 1, 1, S]
        encoder_outputs, attention_probs = [], []
        for block in blocks:
            if output_attention_probs:
                x, probs = block(x, bias)  # [B, S, H], [B, N, S, S]
                attention_probs.append(probs)
            else:
                x = block(x, bias)  # [B, S, H]
            encoder_outputs.append(x)
        outputs = {
            "sequence_output": x,
            "pooled_output": pooler(x),  # [B, H]
            "encoder_outputs": encoder_outputs,
        }
        if output_attention_probs:
            outputs["attention_probs"] = attention_probs
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        if dtype is not None:
            # Functional models do not take `dtype`; record the layers' policy
            # so that `get_config` (and `.keras` files) keep it.
            self.dtype_policy = keras.dtype_policies.get(dtype)

        # === Config ===
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.output_attention_probs = output_attention_probs
        self.bert_config = config

        # === Handles used by heads and checkpoint converters ===
        self.word_embeddings = word_embeddings
        self.position_embedding = position_embedding
        self.type_embeddings = type_embeddings
        self.embeddings_layer_norm = embeddings_layer_norm
        self.transformer_layers = blocks
        self.pooler = pooler

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }
        config.update(self.bert_config.to_dict())
        config["output_attention_probs"] = self.output_attention_probs
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)

    @classmethod
    def from_bert_config(cls, config: BertConfig, **kwargs) -> BertEncoder:
        """Builds an encoder from a `BertConfig`.

        Example:

        >>> cfg = BertConfig.from_preset("bert_uncased_L-2_H-128_A-2")
        >>> BertEncoder.from_bert_config(cfg).num_hidden_layers
        2
        """
        return cls(**config.to_dict(), **kwargs)


def build_encoder(config: BertConfig | str, **kwargs: Any) -> BertEncoder:
    """Builds a `BertEncoder` from a `BertConfig` or a preset name.

    Args:
        config: a `BertConfig`, a preset name (see `bert_tf.config.PRESETS`)
            or a path to a `bert_config.json` / `config.json`.
        **kwargs: extra `BertEncoder` arguments (`dtype`,
            `output_attention_probs`, `name`).

    Example:

    >>> build_encoder("bert_uncased_L-2_H-128_A-2").hidden_size
    128
    """
    if isinstance(config, str):
        if config in PRESETS:
            config = PRESETS[config]
        else:
            config = BertConfig.from_json_file(config)
    return BertEncoder.from_bert_config(config, **kwargs)
