"""bert_tf: BERT for Keras 3 and TensorFlow, tokenization in the graph.

One model definition serves `Model.fit` on raw strings, a SavedModel that takes
raw strings in TF Serving, and a TFLite file that takes raw strings in LiteRT.
"""

__version__ = "0.1.0"

# --- Encoder, task heads and checkpoint import/export (issue 3) -------------
# `bert_tf.config` imports no TensorFlow; the Keras models load on first use.
from bert_tf.config import PRESETS, BertConfig  # noqa: E402, F401  (public names)

_ENCODER_LAZY = {
    "BertEncoder": "bert_tf.encoder",
    "build_encoder": "bert_tf.encoder",
    "BertPretrainer": "bert_tf.heads",
    "BertClassifier": "bert_tf.heads",
    "BertRegressor": "bert_tf.heads",
    "BertTokenClassifier": "bert_tf.heads",
    "BertSpanLabeler": "bert_tf.heads",
    "BertEmbedder": "bert_tf.heads",
    "load_google_checkpoint": "bert_tf.checkpoints",
    "save_google_checkpoint": "bert_tf.checkpoints",
    "load_hf_checkpoint": "bert_tf.checkpoints",
    "save_hf_checkpoint": "bert_tf.checkpoints",
    "CheckpointMismatchError": "bert_tf.checkpoints",
}


def __getattr__(name):
    module = _ENCODER_LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bert_tf' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
