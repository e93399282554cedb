"""Model Garden (`official.nlp`) `BertEncoder` checkpoints -> bert_tf.

Needs the `garden` extra (tf-models-official, tf-keras); `official` is only
imported inside the functions that need it, so the core never imports it.

Model Garden's encoder names its variables (tf_keras `Variable.name`)
`word_embeddings/embeddings`, `transformer/layer_{i}/self_attention/query/
kernel` ([H, N, D]) and so on, as its own `tf1_bert_checkpoint_converter_lib`
produces them from Google's names; `MG_TO_TF1` below is that table read
backwards.
"""

from __future__ import annotations

import os
import re

import numpy as np

from bert_tf.checkpoints._common import (
    MODEL_GARDEN,
    build_target,
    library_config,
    load_library_encoder,
)
from bert_tf.checkpoints.mapping import CheckpointMismatchError, assign_state
from bert_tf.config import BertConfig
from bert_tf.layers.activations import get_activation

__all__ = [
    "MG_TO_TF1",
    "build_model_garden_encoder",
    "load_model_garden_checkpoint",
    "load_model_garden_encoder",
    "model_garden_state",
]

# Model Garden name (regex) -> Google TF1 name template.
MG_TO_TF1 = (
    (r"word_embeddings/embeddings", "bert/embeddings/word_embeddings"),
    (r"position_embedding/embeddings", "bert/embeddings/position_embeddings"),
    (r"type_embeddings/embeddings", "bert/embeddings/token_type_embeddings"),
    (r"embeddings/layer_norm/(gamma|beta)", r"bert/embeddings/LayerNorm/\1"),
    (
        r"transformer/layer_(\d+)/self_attention/(query|key|value)/(kernel|bias)",
        r"bert/encoder/layer_\1/attention/self/\2/\3",
    ),
    (
        r"transformer/layer_(\d+)/self_attention/attention_output/(kernel|bias)",
        r"bert/encoder/layer_\1/attention/output/dense/\2",
    ),
    (
        r"transformer/layer_(\d+)/self_attention_layer_norm/(gamma|beta)",
        r"bert/encoder/layer_\1/attention/output/LayerNorm/\2",
    ),
    (
        r"transformer/layer_(\d+)/intermediate/(kernel|bias)",
        r"bert/encoder/layer_\1/intermediate/dense/\2",
    ),
    (
        r"transformer/layer_(\d+)/output/(kernel|bias)",
        r"bert/encoder/layer_\1/output/dense/\2",
    ),
    (
        r"transformer/layer_(\d+)/output_layer_norm/(gamma|beta)",
        r"bert/encoder/layer_\1/output/LayerNorm/\2",
    ),
    (r"pooler_transform/(kernel|bias)", r"bert/pooler/dense/\1"),
)


def _exact_gelu(x):
    import tensorflow as tf

    return tf.nn.gelu(x, approximate=False)


def build_model_garden_encoder(config: BertConfig):
    """Builds Model Garden's `networks.BertEncoder` for `config`.

    The feed-forward activation is BERT's exact erf GELU for `hidden_act`
    "gelu" (Model Garden's own default is the tanh approximation).
    """
    import tf_keras
    from official.nlp.modeling import networks

    if config.hidden_act == "gelu":
        activation = _exact_gelu
    else:
        activation = get_activation(config.hidden_act)
    return networks.BertEncoder(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        max_sequence_length=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size,
        inner_dim=config.intermediate_size,
        inner_activation=activation,
        dict_outputs=True,
        output_dropout=config.hidden_dropout_prob,
        attention_dropout=config.attention_probs_dropout_prob,
        initializer=tf_keras.initializers.TruncatedNormal(stddev=config.initializer_range),
    )


def model_garden_config(mg_encoder, hidden_act: str = "gelu") -> BertConfig:
    """The `BertConfig` of a Model Garden `BertEncoder`."""
    return library_config(mg_encoder.get_config(), MODEL_GARDEN, hidden_act)


def model_garden_state(mg_encoder) -> dict:
    """A Model Garden `BertEncoder`'s weights as a TF1-named dict.

    Raises:
        CheckpointMismatchError: for a variable the table does not know
            (e.g. an embedding projection), naming it.
    """
    state, unknown = {}, []
    for variable in mg_encoder.variables:
        name = variable.name.split(":")[0]
        value = np.asarray(variable.numpy())
        for pattern, template in MG_TO_TF1:
            match = re.fullmatch(pattern, name)
            if match:
                tf1 = match.expand(template)
                break
        else:
            unknown.append(f"'{name}' {tuple(value.shape)}")
            continue
        if value.ndim == 3:  # [H, N, D] or [N, D, H] -> [H, H]
            value = (
                value.reshape(-1, value.shape[-1])
                if name.endswith("attention_output/kernel")
                else value.reshape(value.shape[0], -1)
            )
        elif value.ndim == 2 and "/self_attention/" in name and name.endswith("bias"):
            value = value.reshape(-1)  # [N, D] -> [H]
        state[tf1] = value
    if unknown:
        raise CheckpointMismatchError(
            f"Model Garden encoder '{mg_encoder.name}': unsupported variable(s) "
            + ", ".join(unknown)
            + "."
        )
    return state


def load_model_garden_encoder(
    mg_encoder, model=None, *, hidden_act: str = "gelu", **encoder_kwargs
):
    """Copies a Model Garden `BertEncoder`'s weights into a bert_tf model.

    Args:
        mg_encoder: an `official.nlp.modeling.networks.BertEncoder`.
        model: a bert_tf model to fill; None builds a `BertEncoder`.
        hidden_act: activation of the built encoder ("gelu" is BERT's exact
            GELU; the Model Garden config's `inner_activation` is not read).
        **encoder_kwargs: extra `BertEncoder` arguments when building.

    Returns:
        The filled model.
    """
    source = f"Model Garden encoder '{mg_encoder.name}'"
    return load_library_encoder(
        mg_encoder,
        model_garden_config,
        model_garden_state,
        source,
        model,
        hidden_act,
        **encoder_kwargs,
    )


def load_model_garden_checkpoint(
    checkpoint_path: str,
    config: BertConfig | str,
    model=None,
    *,
    checkpoint_model_name: str = "encoder",
    **encoder_kwargs,
):
    """Loads a Model Garden TF2 `BertEncoder` checkpoint into bert_tf.

    Builds Model Garden's encoder for `config`, restores the object-based
    checkpoint (saved as `tf.train.Checkpoint(<checkpoint_model_name>=
    encoder)`, as `tf2_bert_encoder_checkpoint_converter` does), checks every
    encoder variable was restored, then copies the weights.

    Args:
        checkpoint_path: checkpoint prefix or folder.
        config: a `BertConfig` or a path to `bert_config.json`.
        model: a bert_tf model to fill; None builds a `BertEncoder`.
        checkpoint_model_name: the attribute the encoder was saved under.
        **encoder_kwargs: extra `BertEncoder` arguments when building.
    """
    import tensorflow as tf

    if isinstance(config, str):
        config = BertConfig.from_json_file(config)
    if os.path.isdir(checkpoint_path):
        latest = tf.train.latest_checkpoint(checkpoint_path)
        if latest is None:
            raise FileNotFoundError(f"{checkpoint_path}: no checkpoint found.")
        checkpoint_path = latest
    mg_encoder = build_model_garden_encoder(config)
    checkpoint = tf.train.Checkpoint(**{checkpoint_model_name: mg_encoder})
    try:
        status = checkpoint.read(checkpoint_path)
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError) as e:
        raise CheckpointMismatchError(
            f"{checkpoint_path}: does not match a Model Garden BertEncoder for this config: {e}"
        ) from e
    status.expect_partial()
    target = build_target(config, model, False, **encoder_kwargs)
    assign_state(target, model_garden_state(mg_encoder), checkpoint_path)
    return target
