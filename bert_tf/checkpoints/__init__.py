"""Checkpoint import/export: Google TF1, Hugging Face, Model Garden, keras-hub.

`model_garden` and `keras_hub` import their libraries only inside functions.
"""

from bert_tf.checkpoints.google_tf1 import (
    load_google_checkpoint,
    read_google_checkpoint,
    save_google_checkpoint,
)
from bert_tf.checkpoints.huggingface import load_hf_checkpoint, save_hf_checkpoint
from bert_tf.checkpoints.mapping import (
    CheckpointMismatchError,
    assign_state,
    extract_state,
)

__all__ = [
    "CheckpointMismatchError",
    "assign_state",
    "extract_state",
    "load_google_checkpoint",
    "load_hf_checkpoint",
    "read_google_checkpoint",
    "save_google_checkpoint",
    "save_hf_checkpoint",
]
