"""The student of a distillation: its size, and what it starts from.

- `student_config`: a preset name or a `bert_config.json`, with the
  teacher's vocabulary size (the student reads the teacher's ids exactly).
- `count_parameters`: the encoder's parameters (what "1/5 of the teacher"
  counts).
- `init_from_teacher`: starting weights taken from the teacher instead of
  random ones:
  - "embeddings": the teacher's word, position and segment embeddings
    projected onto their top principal directions (one projection for all
    three, so the student's summed embedding is the projection of the
    teacher's). Works for any student no wider than the teacher.
  - "layers": where the student is as wide as the teacher (same hidden,
    intermediate and head sizes), its embeddings, every k-th transformer
    layer (k = teacher layers / student layers, the last of each group),
    the pooler and the output layer are the teacher's (DistilBERT's
    initialisation).

Example:

>>> config = student_config("bert_uncased_L-2_H-128_A-2", vocab_size=100, max_seq_length=64)
>>> config.num_hidden_layers, config.hidden_size, config.vocab_size
(2, 128, 100)
"""

from __future__ import annotations

import os

import keras
import numpy as np
from absl import logging

from bert_tf.config import PRESETS, BertConfig
from bert_tf.encoder import BertEncoder

__all__ = [
    "DEFAULT_STUDENT",
    "STUDENT_INITS",
    "count_parameters",
    "init_from_teacher",
    "student_config",
]

# BERT-Tiny (Turc et al., 2019): 2 layers, hidden 128. With the English
# vocabulary it has 4.4M parameters, 89% of them the embedding table: under a
# fifth of MiniLM-L6 (22.7M), about 4 MB as a dynamic-int8 TFLite file.
DEFAULT_STUDENT = "bert_uncased_L-2_H-128_A-2"
STUDENT_INITS = ("random", "embeddings", "layers")


def student_config(student: str, vocab_size: int, max_seq_length: int) -> BertConfig:
    """The student's `BertConfig`, with the teacher's vocabulary size.

    Args:
        student: a name in `bert_tf.config.PRESETS` or a `bert_config.json`
            (its `vocab_size`, if any, is replaced by the teacher's).
        vocab_size: the teacher's vocabulary size.
        max_seq_length: the teacher's packed length (the student must accept
            it).

    Raises:
        ValueError: an unknown preset (listing the known ones), or a student
            whose `max_position_embeddings` is below `max_seq_length`.
        FileNotFoundError: a missing `bert_config.json`.
    """
    if student in PRESETS:
        config = BertConfig.from_preset(student, vocab_size=vocab_size)
    elif student.endswith(".json") or os.sep in student:
        if not os.path.isfile(student):
            raise FileNotFoundError(f"student config not found: {student!r}")
        # The vocabulary is the teacher's: a `vocab_size` here is overridden.
        config = BertConfig.from_json_file(student, vocab_size=vocab_size)
    else:
        raise ValueError(
            f"student {student!r} is neither a preset ({', '.join(sorted(PRESETS))}) "
            "nor a bert_config.json file"
        )
    if config.max_position_embeddings < max_seq_length:
        raise ValueError(
            f"student {student!r}: max_position_embeddings="
            f"{config.max_position_embeddings} is below the teacher's "
            f"max_seq_length={max_seq_length}"
        )
    return config


def count_parameters(encoder: BertEncoder) -> int:
    """Number of parameters of an encoder (or any built Keras model)."""
    return int(sum(np.prod(w.shape) for w in encoder.weights))


def _projection(teacher_words: np.ndarray, width: int) -> np.ndarray:
    """[H_teacher, width]: the top principal directions of the word embeddings."""
    centered = teacher_words - teacher_words.mean(axis=0, keepdims=True)  # [V, Ht]
    # Right singular vectors of the centred table, largest first.
    _, _, vt = np.linalg.svd(centered, full_matrices=False)  # vt: [Ht, Ht]
    return vt[:width].T  # [Ht, width]


def _copy(target: keras.layers.Layer, source: keras.layers.Layer) -> None:
    target.set_weights([np.asarray(w) for w in source.get_weights()])


def _init_embeddings(student: BertEncoder, teacher: BertEncoder) -> None:
    teacher_words = np.asarray(teacher.word_embeddings.embeddings)  # [V, Ht]
    if student.hidden_size == teacher.hidden_size:
        projection = np.eye(teacher.hidden_size, dtype=np.float32)
    else:
        projection = _projection(teacher_words, student.hidden_size)  # [Ht, Hs]
    # Rescaled so the summed embedding keeps the student initializer's scale
    # before LayerNorm; LayerNorm removes any common scale afterwards.
    words = teacher_words @ projection  # [V, Hs]
    scale = student.initializer_range / max(float(words.std()), 1e-12)
    if student.hidden_size == teacher.hidden_size:
        scale = 1.0
    student.word_embeddings.embeddings.assign(words * scale)
    positions = np.asarray(teacher.position_embedding.position_embeddings)  # [Pt, Ht]
    rows = min(positions.shape[0], student.max_position_embeddings)
    student_positions = np.asarray(student.position_embedding.position_embeddings).copy()
    student_positions[:rows] = positions[:rows] @ projection * scale  # [Ps, Hs]
    student.position_embedding.position_embeddings.assign(student_positions)
    types = np.asarray(teacher.type_embeddings.embeddings)  # [T, Ht]
    if types.shape[0] == student.type_vocab_size:
        student.type_embeddings.embeddings.assign(types @ projection * scale)
    if student.hidden_size == teacher.hidden_size:
        _copy(student.embeddings_layer_norm, teacher.embeddings_layer_norm)


def _same_width(student: BertEncoder, teacher: BertEncoder) -> bool:
    return (
        student.hidden_size == teacher.hidden_size
        and student.intermediate_size == teacher.intermediate_size
        and student.num_attention_heads == teacher.num_attention_heads
        and student.hidden_act == teacher.hidden_act
    )


def _output_layer(head: keras.Model) -> keras.layers.Dense:
    dense = [layer for layer in head.layers if isinstance(layer, keras.layers.Dense)]
    return dense[-1]


def init_from_teacher(student: keras.Model, teacher: keras.Model, mode: str) -> None:
    """Sets a student head's starting weights from a teacher head (in place).

    Args:
        student: the student head (its `encoder` a `BertEncoder`).
        teacher: the teacher head of the same kind.
        mode: one of `STUDENT_INITS` (see the module docstring).

    Raises:
        ValueError: an unknown mode, or "layers" with a student narrower
            than the teacher or deeper than it.
    """
    if mode not in STUDENT_INITS:
        raise ValueError(f"student init {mode!r} is not one of {', '.join(STUDENT_INITS)}")
    if mode == "random":
        return
    s_enc, t_enc = student.encoder, teacher.encoder
    if s_enc.hidden_size > t_enc.hidden_size:
        raise ValueError(
            f"student init {mode!r}: the student (hidden {s_enc.hidden_size}) is wider "
            f"than the teacher (hidden {t_enc.hidden_size})"
        )
    _init_embeddings(s_enc, t_enc)
    if mode == "embeddings":
        logging.info("student embeddings: the teacher's, projected to %d dims", s_enc.hidden_size)
        return
    if not _same_width(s_enc, t_enc) or s_enc.num_hidden_layers > t_enc.num_hidden_layers:
        raise ValueError(
            "student init 'layers' needs a student as wide as the teacher (hidden, "
            "intermediate and head sizes) and no deeper; the student has "
            f"L={s_enc.num_hidden_layers}, H={s_enc.hidden_size}, "
            f"I={s_enc.intermediate_size}, the teacher L={t_enc.num_hidden_layers}, "
            f"H={t_enc.hidden_size}, I={t_enc.intermediate_size}; use 'embeddings'"
        )
    k = t_enc.num_hidden_layers // s_enc.num_hidden_layers
    for i, block in enumerate(s_enc.transformer_layers):
        _copy(block, t_enc.transformer_layers[(i + 1) * k - 1])
    _copy(s_enc.pooler, t_enc.pooler)
    _copy(_output_layer(student), _output_layer(teacher))
    logging.info("student layers: every %d-th of the teacher's %d", k, t_enc.num_hidden_layers)
