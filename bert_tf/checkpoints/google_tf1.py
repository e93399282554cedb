"""Google's original TF1 BERT checkpoints (google-research/bert layout).

A checkpoint folder holds `bert_config.json`, `bert_model.ckpt.index`,
`bert_model.ckpt.data-*` and `vocab.txt`. Reading uses
`tf.train.load_checkpoint`; writing uses the `SaveV2` op, so the files are
ordinary name-based checkpoints that TF1's `tf.train.Saver`, Model Garden's
`tf1_bert_checkpoint_converter_lib` and Hugging Face's
`load_tf_weights_in_bert` read. No TF1 code is used.

Example:

>>> import tempfile
>>> from bert_tf.encoder import BertEncoder
>>> enc = BertEncoder(vocab_size=50, hidden_size=16, num_hidden_layers=1,
...                   num_attention_heads=2, intermediate_size=32,
...                   max_position_embeddings=8)
>>> d = tempfile.mkdtemp()
>>> _ = save_google_checkpoint(enc, d)
>>> load_google_checkpoint(d).num_hidden_layers
1
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints._common import build_target, config_of
from bert_tf.checkpoints.mapping import assign_state, extract_state
from bert_tf.config import BertConfig

__all__ = [
    "read_google_checkpoint",
    "load_google_checkpoint",
    "save_google_checkpoint",
    "write_tf1_checkpoint",
]

CONFIG_NAME = "bert_config.json"
CHECKPOINT_NAME = "bert_model.ckpt"


def _resolve(path: str) -> tuple:
    """Returns (checkpoint prefix, folder) for a folder or a prefix."""
    if os.path.isdir(path):
        prefix = os.path.join(path, CHECKPOINT_NAME)
        if not tf.io.gfile.exists(prefix + ".index"):
            latest = tf.train.latest_checkpoint(path)
            if latest is None:
                raise FileNotFoundError(
                    f"{path}: no {CHECKPOINT_NAME}.index and no 'checkpoint' file."
                )
            prefix = latest
        return prefix, path
    if not tf.io.gfile.exists(path + ".index"):
        raise FileNotFoundError(f"{path}.index: checkpoint not found.")
    return path, os.path.dirname(path)


def read_google_checkpoint(path: str) -> dict:
    """Reads every variable of a TF1 checkpoint into a name -> array dict.

    Args:
        path: a checkpoint folder or prefix (`.../bert_model.ckpt`).
    """
    prefix, _ = _resolve(path)
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def load_google_checkpoint(
    path: str,
    model=None,
    *,
    with_heads: bool = False,
    skip_heads: bool | None = None,
    config: BertConfig | None = None,
    **encoder_kwargs,
):
    """Loads a Google TF1 BERT checkpoint into a bert_tf model.

    Args:
        path: folder with `bert_config.json` and `bert_model.ckpt.*`, or a
            checkpoint prefix (the config is then read from its folder).
        model: a model to fill (`BertEncoder`, `BertPretrainer`, or any head
            with `.encoder`). None builds one from `bert_config.json`.
        with_heads: when building, build a `BertPretrainer` (loads
            `cls/predictions` and `cls/seq_relationship`).
        skip_heads: see `mapping.assign_state`.
        config: overrides `bert_config.json`.
        **encoder_kwargs: extra `BertEncoder` arguments when building.

    Returns:
        The filled model.

    Raises:
        CheckpointMismatchError: naming any missing, unused or misshaped
            variable.
    """
    prefix, folder = _resolve(path)
    if model is None and config is None:
        config = BertConfig.from_json_file(os.path.join(folder, CONFIG_NAME))
    target = build_target(config, model, with_heads, **encoder_kwargs)
    assign_state(target, read_google_checkpoint(prefix), prefix, skip_heads=skip_heads)
    return target


def write_tf1_checkpoint(state: dict, prefix: str) -> str:
    """Writes a name -> array dict as a name-based (TF1-readable) checkpoint.

    Also writes the `checkpoint` state file next to it.

    Returns:
        The prefix.
    """
    names = sorted(state)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(np.asarray(state[n])) for n in names],
    )
    folder = os.path.dirname(prefix) or "."
    base = os.path.basename(prefix)
    with open(os.path.join(folder, "checkpoint"), "w", encoding="utf-8") as f:
        f.write(f'model_checkpoint_path: "{base}"\n')
        f.write(f'all_model_checkpoint_paths: "{base}"\n')
    return prefix


def save_google_checkpoint(model, directory: str, vocab_file: str | None = None) -> str:
    """Writes a bert_tf model as a Google TF1 BERT checkpoint folder.

    Writes `bert_config.json`, `bert_model.ckpt.{index,data-00000-of-00001}`,
    `checkpoint` and, if given, a copy of `vocab_file` as `vocab.txt`. A
    `BertPretrainer` also writes `cls/predictions/*` and
    `cls/seq_relationship/*`.

    Args:
        model: a `BertEncoder`, `BertPretrainer` or head with `.encoder`.
        directory: output folder (created).
        vocab_file: optional vocabulary to copy.

    Returns:
        The checkpoint prefix.
    """
    os.makedirs(directory, exist_ok=True)
    config_of(model).to_json_file(os.path.join(directory, CONFIG_NAME))
    if vocab_file:
        shutil.copyfile(vocab_file, os.path.join(directory, "vocab.txt"))
    return write_tf1_checkpoint(extract_state(model), os.path.join(directory, CHECKPOINT_NAME))
