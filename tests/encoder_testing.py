"""Shared helpers for the encoder / heads / checkpoint tests (tiny sizes)."""

import numpy as np

from bert_tf.encoder import BertEncoder

# The shared tiny size: vocab 50, hidden 16, 2 layers, 2 heads, seq 8.
TINY = dict(
    vocab_size=50,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=8,
    type_vocab_size=2,
)
BATCH, SEQ = 3, 8


def tiny_encoder(**overrides):
    """A tiny BertEncoder with random (non-zero) biases and LayerNorm."""
    kwargs = dict(TINY)
    kwargs.update(overrides)
    encoder = BertEncoder(**kwargs)
    randomize(encoder)
    return encoder


def randomize(model, seed=0):
    """Gives every variable random values (so zero biases hide no mapping bug)."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        v.assign(rng.normal(0, 0.5, v.shape).astype(v.dtype))


def tiny_inputs(batch=BATCH, seq=SEQ, seed=1, vocab=TINY["vocab_size"]):
    """Random ids with padding on the last example, two segments."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (batch, seq)).astype("int32")
    mask = np.ones((batch, seq), "int32")
    mask[-1, seq // 2 :] = 0
    ids[mask == 0] = 0
    types = np.zeros((batch, seq), "int32")
    types[:, seq // 2 :] = 1
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


def to_numpy(tree):
    import tensorflow as tf

    return tf.nest.map_structure(lambda t: np.asarray(t), tree)


def erf(x):
    """float64 erf of an array (math.erf; no SciPy needed)."""
    import math

    return np.vectorize(math.erf, otypes=[np.float64])(np.asarray(x, np.float64))
