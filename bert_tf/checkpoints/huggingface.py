"""Hugging Face BERT checkpoints: `config.json` + `model.safetensors`.

Both layouts are read and written: `BertModel` (keys `embeddings.*`,
`encoder.layer.{i}.*`, `pooler.*`) and `BertForPreTraining` (the same under
`bert.` plus `cls.predictions.*` and `cls.seq_relationship.*`). PyTorch
`Linear` weights are [out, in], the transpose of TF kernels. Both LayerNorm
spellings (`weight`/`bias` and the older `gamma`/`beta`) are accepted.

Example:

>>> import tempfile
>>> from bert_tf.encoder import BertEncoder
>>> enc = BertEncoder(vocab_size=50, hidden_size=16, num_hidden_layers=1,
...                   num_attention_heads=2, intermediate_size=32,
...                   max_position_embeddings=8)
>>> d = tempfile.mkdtemp()
>>> _ = save_hf_checkpoint(enc, d)
>>> load_hf_checkpoint(d).hidden_size
16
"""

from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import safetensors.numpy

from bert_tf import files
from bert_tf.checkpoints._common import build_target, config_of
from bert_tf.checkpoints.mapping import (
    CheckpointMismatchError,
    assign_state,
    expected_shapes,
    extract_state,
    has_pretraining_heads,
)
from bert_tf.config import BertConfig

__all__ = [
    "tf1_to_hf_name",
    "read_hf_checkpoint",
    "load_hf_checkpoint",
    "save_hf_checkpoint",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

# HF buffers that are not weights.
_HF_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


def tf1_to_hf_name(name: str, prefix: str = "") -> tuple:
    """Maps a Google TF1 variable name to (HF key, transpose?).

    Args:
        name: e.g. "bert/encoder/layer_0/attention/self/query/kernel".
        prefix: "bert." for the BertForPreTraining layout, "" for BertModel.

    Example:

    >>> tf1_to_hf_name("bert/encoder/layer_3/output/dense/kernel")
    ('encoder.layer.3.output.dense.weight', True)
    >>> tf1_to_hf_name("cls/predictions/output_bias", "bert.")
    ('cls.predictions.bias', False)
    """
    special = {
        "cls/predictions/output_bias": ("cls.predictions.bias", False),
        "cls/seq_relationship/output_weights": ("cls.seq_relationship.weight", False),
        "cls/seq_relationship/output_bias": ("cls.seq_relationship.bias", False),
    }
    if name in special:
        return special[name]
    if name.startswith("bert/"):
        name, head = name[len("bert/") :], False
    else:
        head = True
    name = re.sub(r"layer_(\d+)", r"layer.\1", name)
    transpose = False
    if name.endswith("LayerNorm/gamma"):
        name = name[: -len("gamma")] + "weight"
    elif name.endswith("LayerNorm/beta"):
        name = name[: -len("beta")] + "bias"
    elif name.endswith("/kernel"):
        name, transpose = name[: -len("kernel")] + "weight", True
    elif name.endswith("_embeddings"):
        name = name + "/weight"
    key = name.replace("/", ".")
    return (key if head else prefix + key), transpose


def read_hf_checkpoint(path: str) -> dict:
    """Reads `model.safetensors` (a folder or the file) into key -> array."""
    file = os.path.join(path, WEIGHTS_NAME) if os.path.isdir(path) else path
    if not os.path.exists(file):
        raise FileNotFoundError(f"{file}: no safetensors weights found.")
    return safetensors.numpy.load_file(file)


def _to_tf1_state(tensors: dict, model, source: str) -> dict:
    """Turns HF keys into the TF1-named state `model` expects."""
    prefix = "bert." if any(k.startswith("bert.") for k in tensors) else ""
    expected = expected_shapes(model)
    # Every TF1 name a BERT checkpoint can hold, including heads the model may
    # not have (they are then reported or skipped by assign_state).
    names = set(expected)
    names.update(
        [
            "cls/predictions/transform/dense/kernel",
            "cls/predictions/transform/dense/bias",
            "cls/predictions/transform/LayerNorm/gamma",
            "cls/predictions/transform/LayerNorm/beta",
            "cls/predictions/output_bias",
            "cls/seq_relationship/output_weights",
            "cls/seq_relationship/output_bias",
        ]
    )
    by_key = {}
    for name in names:
        key, transpose = tf1_to_hf_name(name, prefix)
        by_key[key] = (name, transpose)
    state, unknown = {}, []
    tied = {}
    for key, value in tensors.items():
        norm = key
        if norm.endswith("LayerNorm.gamma"):
            norm = norm[: -len("gamma")] + "weight"
        elif norm.endswith("LayerNorm.beta"):
            norm = norm[: -len("beta")] + "bias"
        if norm.endswith(_HF_BUFFERS):
            continue
        if norm in ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias"):
            tied[norm] = value
            continue
        if norm not in by_key:
            unknown.append(key)
            continue
        name, transpose = by_key[norm]
        state[name] = np.transpose(value) if transpose else value
    if unknown:
        raise CheckpointMismatchError(
            f"{source}: unknown variable(s) "
            + ", ".join(f"'{k}' {tuple(tensors[k].shape)}" for k in sorted(unknown))
            + " (not part of a BERT encoder or its pre-training heads)."
        )
    # The decoder is tied to the word embeddings (and its bias to
    # cls.predictions.bias): accept the copies only if they are copies.
    decoder = tied.get("cls.predictions.decoder.weight")
    word = state.get("bert/embeddings/word_embeddings")
    if decoder is not None and word is not None and not np.array_equal(decoder, word):
        raise CheckpointMismatchError(
            f"{source}: 'cls.predictions.decoder.weight' differs from the word "
            "embeddings; bert_tf ties the masked-LM output to them."
        )
    bias = tied.get("cls.predictions.decoder.bias")
    if bias is not None:
        if "cls/predictions/output_bias" not in state:
            state["cls/predictions/output_bias"] = bias
        elif not np.array_equal(bias, state["cls/predictions/output_bias"]):
            raise CheckpointMismatchError(
                f"{source}: 'cls.predictions.decoder.bias' differs from 'cls.predictions.bias'."
            )
    return state


def load_hf_checkpoint(
    path: str,
    model=None,
    *,
    with_heads: bool = False,
    skip_heads: bool | None = None,
    config: BertConfig | None = None,
    **encoder_kwargs,
):
    """Loads a Hugging Face BERT checkpoint (BertModel or BertForPreTraining).

    Args:
        path: folder with `config.json` and `model.safetensors`.
        model: a model to fill; None builds one from `config.json`.
        with_heads: when building, build a `BertPretrainer`.
        skip_heads: see `mapping.assign_state`.
        config: overrides `config.json`.
        **encoder_kwargs: extra `BertEncoder` arguments when building
            (e.g. `dtype`).

    Returns:
        The filled model.
    """
    if model is None and config is None:
        config = BertConfig.from_json_file(os.path.join(path, CONFIG_NAME))
    target = build_target(config, model, with_heads, **encoder_kwargs)
    file = os.path.join(path, WEIGHTS_NAME) if os.path.isdir(path) else path
    state = _to_tf1_state(read_hf_checkpoint(path), target, file)
    assign_state(target, state, file, skip_heads=skip_heads)
    return target


def save_hf_checkpoint(model, directory: str, vocab_file: str | None = None) -> str:
    """Writes a bert_tf model as a Hugging Face checkpoint folder.

    An encoder is written in the `BertModel` layout, a `BertPretrainer` in
    the `BertForPreTraining` layout (tied decoder weights are not stored, as
    `save_pretrained` does). Writes `config.json`, `model.safetensors` and,
    if given, `vocab.txt`.

    Returns:
        The safetensors file path.
    """
    os.makedirs(directory, exist_ok=True)
    heads = has_pretraining_heads(model)
    prefix = "bert." if heads else ""
    arch = "BertForPreTraining" if heads else "BertModel"
    tensors = {}
    for name, value in extract_state(model).items():
        key, transpose = tf1_to_hf_name(name, prefix)
        tensors[key] = np.ascontiguousarray(np.transpose(value) if transpose else value)
    with open(os.path.join(directory, CONFIG_NAME), "w", encoding="utf-8") as f:
        json.dump(config_of(model).to_hf_dict(arch), f, indent=2, sort_keys=True)
        f.write("\n")
    if vocab_file:
        shutil.copyfile(vocab_file, os.path.join(directory, "vocab.txt"))
    file = os.path.join(directory, WEIGHTS_NAME)
    safetensors.numpy.save_file(tensors, file, metadata={"format": "pt"})
    # safetensors creates the file 0600; others (a server, a teammate) read it.
    os.chmod(file, files.ordinary_mode(is_dir=False))
    return file
