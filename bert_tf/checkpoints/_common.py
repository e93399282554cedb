"""Helpers shared by the checkpoint importers: building the target model."""

from __future__ import annotations

from bert_tf.checkpoints.mapping import find_encoder
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


def config_of(model) -> BertConfig:
    """The `BertConfig` of a bert_tf model (encoder or head)."""
    return find_encoder(model).bert_config
