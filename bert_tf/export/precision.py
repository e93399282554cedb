"""The compute precision of an export: float32, or bfloat16 for fast hardware.

`with_precision(model, "bfloat16")` returns a copy of a bert_tf model (a
head, an encoder or a pretrainer) whose layers follow Keras'
`mixed_bfloat16` policy: the variables stay float32 (the same checkpoint
values), every matmul runs in bfloat16, softmax and LayerNorm in float32
(`bert_tf.layers.transformer`). Traced by `tf.function` without XLA, this is
the oneDNN graph path that is fast on CPUs with AVX512-BF16 or AMX (measured
on an AVX512-BF16 machine: 1.56x float32 in graph mode, 0.96x with XLA) and
on GPUs. The serving modules cast every output to float32, so the
signatures are the same as a float32 export's.

Why one precision per SavedModel, not a choice at load time: a SavedModel
cannot see the machine it runs on. No TensorFlow op reports CPU features, so
a `tf.cond` between a float32 and a bfloat16 function needs a predicate that
is fixed when the graph is written (a captured constant or a restored
variable: TF Serving's C++ loader runs no Python to set it), or a new
request input every client would have to fill in. Two signatures
(`serving_default` and `serving_bfloat16`) would share the float32
variables but double the traced graph and load time, and TF Serving clients
would still have to pick one. So the choice is made at export time
(`bert_tf export --precision`), recorded in `ExportResult.precision`, the
export's log line and `assets.extra/export_info.json`; the export machine
warns when it lacks fast bfloat16 (the serving machine may differ). A
server operator who wants the switch at load time can serve the float32
export with TensorFlow's own graph rewrite instead, in the session config
(`graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16: ON`,
TF Serving's `--tensorflow_session_config_file`): it converts the float32
graph to bfloat16 where oneDNN supports it.

TFLite has no bfloat16 kernels: `--format=tflite --precision=bfloat16` is
refused (use `--quantization=float16` or `dynamic_int8` there).
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf
from absl import logging

from bert_tf import files, hardware

__all__ = [
    "EXPORT_INFO_FILE",
    "PRECISIONS",
    "check_precision",
    "model_precision",
    "warn_if_slow",
    "with_precision",
    "write_export_info",
]

PRECISIONS = ("float32", "bfloat16")
# Export precision → the Keras dtype policy of the exported model's layers.
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
EXPORT_INFO_FILE = os.path.join("assets.extra", "export_info.json")


def check_precision(precision: str | None, flag: str = "precision") -> str:
    """`precision` (None = float32) if it is one of `PRECISIONS`.

    Raises:
      ValueError: another value, naming `--<flag>`.
    """
    precision = precision or "float32"
    if precision not in PRECISIONS:
        raise ValueError(f"--{flag}={precision!r}: expected one of {', '.join(PRECISIONS)}")
    return precision


def model_precision(model: keras.Layer) -> str:
    """The compute precision of `model` (its encoder's, for a head).

    Returns:
      "bfloat16" or "float32".
    """
    layer = getattr(model, "encoder", None) or model
    return "bfloat16" if layer.dtype_policy.compute_dtype == "bfloat16" else "float32"


def _with_policy(config, policy: dict):
    """`config` with every serialized dtype policy replaced by `policy`."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and "config" in config:
            return policy
        return {
            key: _with_policy(value, policy)
            for key, value in config.items()
            if key != "compile_config"  # The optimizer does not travel.
        }
    if isinstance(config, list):
        return [_with_policy(value, policy) for value in config]
    return config


def with_precision(model: keras.Model, precision: str) -> keras.Model:
    """A copy of `model` computing in `precision`, with the same weights.

    The copy is rebuilt from the model's config with every layer's dtype
    policy set to `float32` or `mixed_bfloat16` (bert_tf layers hand their
    policy to their sublayers); its variables stay float32 and take the
    model's values. The model itself is returned when it already computes
    in `precision`.

    Args:
      model: a bert_tf model (head, encoder or pretrainer).
      precision: "float32" or "bfloat16".

    Returns:
      The model in `precision`.

    Raises:
      ValueError: an unknown precision, or a model whose copy has other
        variables (a model not built from its config).
    """
    precision = check_precision(precision)
    if model_precision(model) == precision:
        return model
    policy = keras.dtype_policies.serialize(keras.dtype_policies.get(_POLICIES[precision]))
    config = _with_policy(keras.saving.serialize_keras_object(model), policy)
    copy = keras.saving.deserialize_keras_object(config)
    if not copy.built:
        copy.build(None)
    mine = {v.path: v for v in copy.weights}
    theirs = {v.path: v for v in model.weights}
    if sorted(mine) != sorted(theirs):
        raise ValueError(
            f"{model.name}: its {precision} copy has other variables "
            f"({len(mine)} vs {len(theirs)}); is it a bert_tf model?"
        )
    for path, variable in mine.items():
        variable.assign(theirs[path])
    logging.info("%s: %s compute (%s policy)", model.name, precision, _POLICIES[precision])
    return copy


def warn_if_slow(precision: str) -> bool:
    """Logs a warning when `precision` is slow on this machine; True if so.

    bfloat16 is fast with AVX512-BF16 or AMX, or on a GPU; elsewhere oneDNN
    emulates it, slower than float32. Exporting still goes ahead: the
    serving machine may differ.
    """
    if precision != "bfloat16":
        return False
    if hardware.has_fast_bfloat16() or tf.config.list_physical_devices("GPU"):
        return False
    logging.warning(
        "precision bfloat16: this machine (%s) has no AVX512-BF16/AMX and no GPU, "
        "so the export would be slower than float32 here; serve it on a machine "
        "with fast bfloat16",
        hardware.cpu_model(),
    )
    return True


def write_export_info(export_dir: str, precision: str) -> str:
    """Writes `assets.extra/export_info.json` (precision, exporting machine).

    TF Serving ignores the file; it tells a reader how the export was made.
    Returns its path.
    """
    info = {
        "precision": precision,
        "keras_dtype_policy": _POLICIES[precision],
        "exported_on": {
            "cpu_model": hardware.cpu_model(),
            "fast_bfloat16": hardware.has_fast_bfloat16(),
        },
    }
    path = os.path.join(export_dir, EXPORT_INFO_FILE)
    return files.atomic_write(path, json.dumps(info, indent=2, sort_keys=True) + "\n")
