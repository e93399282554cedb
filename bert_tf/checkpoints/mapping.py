"""The shared variable map: our Keras variables <-> Google TF1 BERT names.

Every importer (Google TF1, Hugging Face, Model Garden, keras-hub) first
turns its source into a *TF1 state*: a dict from Google's original variable
names (`bert/encoder/layer_0/attention/self/query/kernel`...) to numpy arrays
in Google's shapes. `assign_state` then checks that every model variable is
present, every checkpoint variable is used and every shape matches, naming
the variable (and both shapes) otherwise, and assigns. `extract_state` is the
inverse, used by the exporters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping

import numpy as np
from absl import logging

from bert_tf.encoder import BertEncoder

__all__ = [
    "CheckpointMismatchError",
    "assign_state",
    "extract_state",
    "expected_shapes",
    "find_encoder",
]

# Checkpoint entries that are training state, not model weights.
_OPTIMIZER_MARKERS = (
    "adam_m",
    "adam_v",
    "/Adam",
    "Momentum",
    "global_step",
    "good_steps",
    "bad_steps",
    "loss_scale",
)


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model (missing, unused or misshaped)."""


@dataclasses.dataclass
class _Slot:
    """One Keras variable, filled from one or more TF1 variables."""

    variable: object  # keras.Variable
    names: tuple  # TF1 names
    shapes: tuple  # TF1 shapes, one per name
    to_variable: Callable  # list of TF1 arrays -> variable value
    from_variable: Callable  # variable value -> list of TF1 arrays


def _single(variable, name, tf1_shape=None, to_v=None, from_v=None):
    shape = tuple(tf1_shape or variable.shape)
    return _Slot(
        variable,
        (name,),
        (shape,),
        (lambda arrays: to_v(arrays[0])) if to_v else (lambda arrays: arrays[0]),
        (lambda value: [from_v(value)]) if from_v else (lambda value: [value]),
    )


def find_encoder(model):
    """Returns the `BertEncoder` of `model` (itself or its `.encoder`)."""
    if isinstance(model, BertEncoder):
        return model
    encoder = getattr(model, "encoder", None)
    if isinstance(encoder, BertEncoder):
        return encoder
    raise TypeError(
        f"Expected a bert_tf BertEncoder or a model with an `.encoder`, got {type(model).__name__}."
    )


def _dense(layer, prefix):
    return [
        _single(layer.kernel, prefix + "/kernel"),
        _single(layer.bias, prefix + "/bias"),
    ]


def _layer_norm(layer, prefix):
    return [
        _single(layer.gamma, prefix + "/gamma"),
        _single(layer.beta, prefix + "/beta"),
    ]


def _encoder_slots(encoder) -> list:
    slots = [
        _single(encoder.word_embeddings.embeddings, "bert/embeddings/word_embeddings"),
        _single(
            encoder.position_embedding.position_embeddings,
            "bert/embeddings/position_embeddings",
        ),
        _single(encoder.type_embeddings.embeddings, "bert/embeddings/token_type_embeddings"),
    ]
    slots += _layer_norm(encoder.embeddings_layer_norm, "bert/embeddings/LayerNorm")
    hidden = encoder.hidden_size
    for i, block in enumerate(encoder.transformer_layers):
        p = f"bert/encoder/layer_{i}"
        names = [f"{p}/attention/self/{part}" for part in ("query", "key", "value")]
        # The fused kernel is [H, 3H] = concat of the three [H, H] kernels.
        slots.append(
            _Slot(
                block.qkv.kernel,
                tuple(n + "/kernel" for n in names),
                ((hidden, hidden),) * 3,
                lambda arrays: np.concatenate(arrays, axis=1),
                lambda value: np.split(value, 3, axis=1),
            )
        )
        slots.append(
            _Slot(
                block.qkv.bias,
                tuple(n + "/bias" for n in names),
                ((hidden,),) * 3,
                lambda arrays: np.concatenate(arrays, axis=0),
                lambda value: np.split(value, 3, axis=0),
            )
        )
        slots += _dense(block.attention_output, f"{p}/attention/output/dense")
        slots += _layer_norm(block.attention_layer_norm, f"{p}/attention/output/LayerNorm")
        slots += _dense(block.intermediate, f"{p}/intermediate/dense")
        slots += _dense(block.output_dense, f"{p}/output/dense")
        slots += _layer_norm(block.output_layer_norm, f"{p}/output/LayerNorm")
    slots += _dense(encoder.pooler.dense, "bert/pooler/dense")
    return slots


def _head_slots(model) -> list:
    """Slots of the pre-training heads, if `model` has them."""
    slots = []
    mlm = getattr(model, "masked_lm_head", None)
    if mlm is not None:
        slots += _dense(mlm._intermediate_dense, "cls/predictions/transform/dense")
        slots += _layer_norm(mlm._intermediate_layer_norm, "cls/predictions/transform/LayerNorm")
        slots.append(_single(mlm._bias, "cls/predictions/output_bias"))
    nsp = getattr(model, "next_sentence_head", None)
    if nsp is not None:
        kernel = nsp.kernel
        slots.append(
            _single(
                kernel,
                "cls/seq_relationship/output_weights",
                tf1_shape=(kernel.shape[1], kernel.shape[0]),
                to_v=np.transpose,
                from_v=np.transpose,
            )
        )
        slots.append(_single(nsp.bias, "cls/seq_relationship/output_bias"))
    return slots


def _slots(model) -> list:
    return _encoder_slots(find_encoder(model)) + _head_slots(model)


def has_pretraining_heads(model) -> bool:
    """True if `model` holds the masked-LM and next-sentence heads."""
    return getattr(model, "masked_lm_head", None) is not None


def expected_shapes(model) -> dict:
    """TF1 name -> TF1 shape of every checkpoint variable `model` needs."""
    out = {}
    for slot in _slots(model):
        out.update(zip(slot.names, slot.shapes))
    return out


def is_optimizer_variable(name: str) -> bool:
    """True for optimizer slots and step counters in training checkpoints."""
    return any(marker in name for marker in _OPTIMIZER_MARKERS)


def assign_state(
    model,
    state: Mapping[str, np.ndarray],
    source: str,
    *,
    ignore_unused: Iterable[str] = (),
    skip_heads: bool | None = None,
) -> None:
    """Assigns a TF1-named state to `model`, checking it fits exactly.

    Args:
        model: a `BertEncoder` or a model with `.encoder` (and, for the
            pre-trainer, `.masked_lm_head` / `.next_sentence_head`).
        state: TF1 name -> array in Google's shapes.
        source: the file or object named in error messages.
        ignore_unused: TF1 names that may be left unused.
        skip_heads: whether `cls/...` variables may be left unused. None: yes
            exactly when `model` has no pre-training heads (loading a
            pre-training checkpoint into an encoder or a fine-tuning model);
            they are logged.

    Raises:
        CheckpointMismatchError: naming every missing variable, every unused
            one, and every shape mismatch with both shapes.
    """
    slots = _slots(model)
    expected = {}
    for slot in slots:
        expected.update(zip(slot.names, slot.shapes))
    if skip_heads is None:
        skip_heads = not has_pretraining_heads(model)
    ignore_unused = set(ignore_unused)
    problems = []
    missing = [n for n in expected if n not in state]
    for name in missing:
        problems.append(
            f"missing variable '{name}' (the model expects shape {tuple(expected[name])})"
        )
    unused, skipped = [], []
    for name in state:
        if name in expected or name in ignore_unused or is_optimizer_variable(name):
            continue
        if skip_heads and name.startswith("cls/"):
            skipped.append(name)
            continue
        unused.append(name)
    for name in sorted(unused):
        problems.append(
            f"unused variable '{name}' with shape {tuple(np.shape(state[name]))} "
            "(no model variable takes it)"
        )
    for name, shape in expected.items():
        if name in state and tuple(np.shape(state[name])) != tuple(shape):
            problems.append(
                f"variable '{name}' has shape {tuple(np.shape(state[name]))} in "
                f"the checkpoint but the model expects {tuple(shape)}"
            )
    if problems:
        raise CheckpointMismatchError(
            f"{source} does not fit the model: " + "; ".join(problems) + "."
        )
    if skipped:
        logging.info(
            "%s: skipped %d pre-training head variable(s) the model has no heads for: %s",
            source,
            len(skipped),
            ", ".join(sorted(skipped)),
        )
    for slot in slots:
        value = slot.to_variable([np.asarray(state[n]) for n in slot.names])
        slot.variable.assign(np.asarray(value, dtype=slot.variable.dtype))


def extract_state(model) -> dict:
    """Returns `model`'s weights as a TF1-named dict of float32 arrays.

    Example:

    >>> from bert_tf.encoder import BertEncoder
    >>> enc = BertEncoder(vocab_size=50, hidden_size=16, num_hidden_layers=1,
    ...                   num_attention_heads=2, intermediate_size=32,
    ...                   max_position_embeddings=8)
    >>> extract_state(enc)["bert/encoder/layer_0/attention/self/query/kernel"].shape
    (16, 16)
    """
    state = {}
    for slot in _slots(model):
        value = np.asarray(slot.variable.numpy())
        for name, array in zip(slot.names, slot.from_variable(value)):
            state[name] = np.ascontiguousarray(array)
    return state
