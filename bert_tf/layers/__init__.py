"""Keras layers of the BERT encoder and heads (all serializable, package "bert_tf")."""

from bert_tf.layers.activations import gelu_approximate, gelu_exact, get_activation
from bert_tf.layers.pooling import BertPooler, ClsTokenPooling, MaskedMeanPooling
from bert_tf.layers.transformer import AttentionMaskBias, BertTransformerBlock

__all__ = [
    "AttentionMaskBias",
    "BertPooler",
    "BertTransformerBlock",
    "ClsTokenPooling",
    "MaskedMeanPooling",
    "gelu_approximate",
    "gelu_exact",
    "get_activation",
]
