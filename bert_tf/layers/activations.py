"""Activation functions by BERT `hidden_act` name."""

from __future__ import annotations

import math

import keras

__all__ = ["gelu_exact", "gelu_approximate", "get_activation"]


@keras.saving.register_keras_serializable(package="bert_tf")
def gelu_exact(x):
    """BERT's GELU, x * Phi(x) with the exact erf (not the tanh approximation).

    Written as google-research/bert and Hugging Face write it,
    `0.5 * x * (1 + erf(x / sqrt(2)))`. Same values as
    `keras.activations.gelu(x, approximate=False)` (to 1e-6), but that lowers
    to `erfc`, which XLA on CPU computes about twice as slowly.

    Example:

    >>> float(gelu_exact(keras.ops.convert_to_tensor(1.0)))  # doctest: +ELLIPSIS
    0.841...
    """
    return 0.5 * x * (1.0 + keras.ops.erf(x / math.sqrt(2.0)))


@keras.saving.register_keras_serializable(package="bert_tf")
def gelu_approximate(x):
    """The tanh approximation of GELU (Hugging Face's "gelu_new")."""
    return keras.activations.gelu(x, approximate=True)


_ACTIVATIONS = {
    "gelu": gelu_exact,
    "gelu_new": gelu_approximate,
    "gelu_pytorch_tanh": gelu_approximate,
    "gelu_fast": gelu_approximate,
    "relu": keras.activations.relu,
    "tanh": keras.activations.tanh,
    "swish": keras.activations.silu,
    "silu": keras.activations.silu,
}


def get_activation(name: str):
    """Returns the Keras activation for a `bert_config.json` `hidden_act`.

    Args:
        name: e.g. "gelu" (exact erf GELU) or "gelu_new" (tanh approximation).

    Example:

    >>> get_activation("gelu") is gelu_exact
    True
    """
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"Unknown hidden_act {name!r}; expected one of {', '.join(sorted(_ACTIVATIONS))}."
        ) from None
