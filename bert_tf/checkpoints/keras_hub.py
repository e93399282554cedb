"""keras-hub `BertBackbone` weights -> bert_tf.

keras-hub's `BertBackbone` computes the feed-forward with the tanh GELU
approximation, but its presets are converted from BERT checkpoints trained
with the exact erf GELU; the imported bert_tf encoder therefore uses
`hidden_act="gelu"` (exact) unless told otherwise.

Example:

>>> import keras_hub
>>> hub = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=1,
...     num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=8)
>>> load_keras_hub_backbone(hub).num_hidden_layers
1
"""

from __future__ import annotations

import numpy as np

from bert_tf.checkpoints._common import KERAS_HUB, library_config, load_library_encoder
from bert_tf.checkpoints.mapping import CheckpointMismatchError
from bert_tf.config import BertConfig

__all__ = ["keras_hub_config", "keras_hub_state", "load_keras_hub_backbone"]


def keras_hub_config(backbone, hidden_act: str = "gelu") -> BertConfig:
    """The `BertConfig` of a keras-hub `BertBackbone`."""
    # Defaults for keys a backbone's config may leave out.
    config = {"dropout": 0.1, "num_segments": 2, **backbone.get_config()}
    return library_config(config, KERAS_HUB, hidden_act)


def keras_hub_state(backbone) -> dict:
    """A keras-hub `BertBackbone`'s weights as a TF1-named dict."""
    hidden = backbone.get_config()["hidden_dim"]
    used = set()

    def get(v):
        used.add(id(v))
        return np.asarray(v.numpy())

    state = {
        "bert/embeddings/word_embeddings": get(backbone.get_layer("token_embedding").embeddings),
        "bert/embeddings/position_embeddings": get(
            backbone.get_layer("position_embedding").position_embeddings
        ),
        "bert/embeddings/token_type_embeddings": get(
            backbone.get_layer("segment_embedding").embeddings
        ),
        "bert/embeddings/LayerNorm/gamma": get(backbone.get_layer("embeddings_layer_norm").gamma),
        "bert/embeddings/LayerNorm/beta": get(backbone.get_layer("embeddings_layer_norm").beta),
    }
    for i in range(backbone.num_layers):
        block = backbone.get_layer(f"transformer_layer_{i}")
        attn = block._self_attention_layer
        p = f"bert/encoder/layer_{i}"
        for part in ("query", "key", "value"):
            dense = getattr(attn, f"{part}_dense")
            # keras-hub EinsumDense kernel [H, N, D] -> [H, H]; bias [N, D] -> [H].
            state[f"{p}/attention/self/{part}/kernel"] = get(dense.kernel).reshape(hidden, hidden)
            state[f"{p}/attention/self/{part}/bias"] = get(dense.bias).reshape(hidden)
        # Output projection kernel [N, D, H] -> [H, H].
        state[f"{p}/attention/output/dense/kernel"] = get(attn.output_dense.kernel).reshape(
            hidden, hidden
        )
        state[f"{p}/attention/output/dense/bias"] = get(attn.output_dense.bias)
        ln = block._self_attention_layer_norm
        state[f"{p}/attention/output/LayerNorm/gamma"] = get(ln.gamma)
        state[f"{p}/attention/output/LayerNorm/beta"] = get(ln.beta)
        ff1, ff2 = block._feedforward_intermediate_dense, block._feedforward_output_dense
        state[f"{p}/intermediate/dense/kernel"] = get(ff1.kernel)
        state[f"{p}/intermediate/dense/bias"] = get(ff1.bias)
        state[f"{p}/output/dense/kernel"] = get(ff2.kernel)
        state[f"{p}/output/dense/bias"] = get(ff2.bias)
        ln = block._feedforward_layer_norm
        state[f"{p}/output/LayerNorm/gamma"] = get(ln.gamma)
        state[f"{p}/output/LayerNorm/beta"] = get(ln.beta)
    pooled = backbone.get_layer("pooled_dense")
    state["bert/pooler/dense/kernel"] = get(pooled.kernel)
    state["bert/pooler/dense/bias"] = get(pooled.bias)
    unused = [v for v in backbone.weights if id(v) not in used]
    if unused:
        raise CheckpointMismatchError(
            f"keras-hub backbone '{backbone.name}': unsupported variable(s) "
            + ", ".join(f"'{v.path}' {tuple(v.shape)}" for v in unused)
            + "."
        )
    return state


def load_keras_hub_backbone(backbone, model=None, *, hidden_act: str = "gelu", **encoder_kwargs):
    """Copies a keras-hub `BertBackbone`'s weights into a bert_tf model.

    Args:
        backbone: a `keras_hub.models.BertBackbone` (e.g. from
            `BertBackbone.from_preset(local_dir)`).
        model: a bert_tf model to fill; None builds a `BertEncoder`.
        hidden_act: activation of the built encoder ("gelu" is exact).
        **encoder_kwargs: extra `BertEncoder` arguments when building.

    Returns:
        The filled model.
    """
    source = f"keras-hub backbone '{backbone.name}'"
    return load_library_encoder(
        backbone, keras_hub_config, keras_hub_state, source, model, hidden_act, **encoder_kwargs
    )
