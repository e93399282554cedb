"""Helpers shared by the checkpoint importers: building the target model."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bert_tf.checkpoints.mapping import assign_state, find_encoder
from bert_tf.config import BertConfig
from bert_tf.encoder import BertEncoder
from bert_tf.heads import BertPretrainer


def build_target(config: BertConfig, model, with_heads: bool, **encoder_kwargs):
    """Returns `model`, or a new encoder / pre-trainer built from `config`."""
    if model is not None:
        return model
    encoder = BertEncoder.from_bert_config(config, **encoder_kwargs)
    if with_heads:
        return BertPretrainer(encoder)
    return encoder


# BertConfig field -> its key in the config of (keras-hub's `BertBackbone`,
# Model Garden's `BertEncoder`); `LIBRARY_CONFIG_KEYS[field][KERAS_HUB]`.
KERAS_HUB, MODEL_GARDEN = 0, 1
LIBRARY_CONFIG_KEYS = {
    "vocab_size": ("vocabulary_size", "vocab_size"),
    "hidden_size": ("hidden_dim", "hidden_size"),
    "num_hidden_layers": ("num_layers", "num_layers"),
    "num_attention_heads": ("num_heads", "num_attention_heads"),
    "intermediate_size": ("intermediate_dim", "inner_dim"),
    "hidden_dropout_prob": ("dropout", "output_dropout"),
    "attention_probs_dropout_prob": ("dropout", "attention_dropout"),
    "max_position_embeddings": ("max_sequence_length", "max_sequence_length"),
    "type_vocab_size": ("num_segments", "type_vocab_size"),
}


def library_config(config: Mapping, library: int, hidden_act: str) -> BertConfig:
    """The `BertConfig` of an encoder's `get_config()` in `library`'s names.

    Args:
        config: the keras-hub backbone's or Model Garden encoder's config.
        library: `KERAS_HUB` or `MODEL_GARDEN`.
        hidden_act: the activation (neither library names BERT's exact GELU).
    """
    fields = {field: config[keys[library]] for field, keys in LIBRARY_CONFIG_KEYS.items()}
    return BertConfig(hidden_act=hidden_act, **fields)


def load_library_encoder(
    layer, config_fn: Callable, state_fn: Callable, source: str, model, hidden_act, **encoder_kwargs
):
    """Copies a keras-hub / Model Garden encoder's weights into a bert_tf model.

    Args:
        layer: the other library's encoder.
        config_fn: callable(layer, hidden_act) -> its `BertConfig`.
        state_fn: callable(layer) -> its weights as a TF1-named dict.
        source: how errors name `layer`.
        model, hidden_act, **encoder_kwargs: as `load_keras_hub_backbone`.
    """
    config = None if model is not None else config_fn(layer, hidden_act)
    target = build_target(config, model, False, **encoder_kwargs)
    assign_state(target, state_fn(layer), source)
    return target


def config_of(model) -> BertConfig:
    """The `BertConfig` of a bert_tf model (encoder or head)."""
    return find_encoder(model).bert_config
