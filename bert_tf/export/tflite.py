"""TFLite files that take raw strings: TFLite builtins plus TF-Text's ops.

Conversion uses `TFLITE_BUILTINS` with custom ops allowed, never
`SELECT_TF_OPS`, so the file needs no Flex delegate. The custom ops it may
hold are TF-Text's, which LiteRT runs once they are registered:

  from ai_edge_litert import interpreter
  import tensorflow_text
  runner = interpreter.InterpreterWithCustomOps(
      custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
      model_path="model.tflite").get_signature_runner("serving_default")

Task models (`convert_task`) come in four variants:

- `"float32"`: equal to the TensorFlow graph (to float rounding);
- `"float16"`: float16 weights, dequantized to float32 at load time;
- `"dynamic_int8"`: int8 weights, activations quantized on the fly;
- `"int8"`: integer matrix products: int8 weights and int8 activations
  (ranges calibrated on the user's text) in every FULLY_CONNECTED and
  BATCH_MATMUL; the string input, TF-Text's tokenizer ops and the integer
  packing stay as they are, and the element-wise ops, LayerNorm, softmax and
  embedding lookups (`INT8_FLOAT_OPS`) stay float32. BERT's additive
  attention mask (-10000 on padding) shares a tensor with the attention
  scores, so one int8 scale rounds every real score to the same value; int8
  embedding lookups lose the words; int8 DIV fails when a divisor rounds to
  zero. Quantizing ADD, SUB, EXP or GATHER made a tiny trained classifier's
  labels no better than chance. Per-tensor int8 activations stay lossy for
  real models (a briefly fine-tuned MiniLM classifier: labels of 87% of 200
  held-out texts agree with float32; 97% for "dynamic_int8", 100% for
  "float16"), so check agreement on your own data before shipping int8.

Calibration runs the whole raw-string model in TFLite's interpreter, so
TF-Text's kernels are registered there too (the converter's
`target_spec._experimental_custom_op_registerers`, the only hook the
converter offers); the representative dataset is simply the user's strings.
The op types kept float are passed to the converter's MLIR quantizer as
`denylisted_ops` (what `tf.lite.experimental.QuantizationDebugger` does; the
debugger itself rejects models with several signatures).

Bad input in LiteRT: empty strings, whitespace, invalid UTF-8 and 1 MB
strings give the TensorFlow graph's result (tested). TFLite has no Assert op,
so the graph's checks are dropped: pair inputs whose batch sizes differ make
`invoke` raise `RuntimeError` (a kernel's shape check fails), never return
rows; the interpreter stays usable. An empty batch returns empty outputs
once the encoder splits Q, K and V by slicing (TFLite's UNPACK kernel
rejects empty tensors).

Every conversion is audited (`op_audit.audit_tflite`).
"""

import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_text
from absl import logging

from bert_tf import files
from bert_tf.export import op_audit
from bert_tf.export.preprocessing import PreprocessingModule
from bert_tf.export.serving_base import TaskServingModule
from bert_tf.text.tokenizer import BertTokenizer

QUANTIZATIONS = ("float32", "float16", "dynamic_int8", "int8")
# TFLite op types left in float32 by "int8" (see the module docstring).
INT8_FLOAT_OPS = (
    "ADD",
    "SUB",
    "MUL",
    "DIV",
    "EXP",
    "GATHER",
    "MEAN",
    "SQUARED_DIFFERENCE",
    "RSQRT",
    "GELU",
    "TANH",
    "SOFTMAX",
    "SUM",
    "REDUCE_MAX",
)

__all__ = [
    "INT8_FLOAT_OPS",
    "QUANTIZATIONS",
    "convert_module",
    "convert_preprocessing",
    "convert_task",
    "size_report",
    "write_tflite",
]


def _tf_text_registerers() -> list[Any]:
    """TF-Text's TFLite op registerers (functions of an op resolver)."""
    return list(tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS)


def _staging_root(
    signatures: Mapping[str, tf.types.experimental.ConcreteFunction],
) -> tf.Module:
    """A module that owns the signatures' variables as plain `tf.Variable`s.

    Keras 3 variables save as fresh `tf.Variable`s initialised *in the
    graph* from the restored ones; the TFLite converter cannot freeze those
    and keeps them as uninitialised `VAR_HANDLE`s (every output NaN). The
    functions read the underlying `tf.Variable`s, so saving those alone, as
    Keras' own `ExportArchive` does, lets the converter freeze every weight.
    """
    root = tf.Module()
    seen = {}
    for function in signatures.values():
        for variable in function.variables:
            seen.setdefault(id(variable), variable)
    root.captured_variables = list(seen.values())
    return root


def convert_module(
    module: tf.Module | None,
    signatures: dict[str, tf.types.experimental.ConcreteFunction],
    optimizations: Sequence[tf.lite.Optimize] = (),
    representative_dataset=None,
    supported_types: Sequence[tf.dtypes.DType] = (),
    float_ops: Sequence[str] = (),
) -> bytes:
    """Converts signatures to one TFLite file, names kept.

    The signatures are saved as a SavedModel in a temporary folder first, so
    the TFLite signature runners carry the same names and input/output names
    as the SavedModel's signatures.

    Args:
      module: the object that owns the functions (kept for callers; only the
        variables the functions read are saved).
      signatures: signature name → concrete function.
      optimizations: TFLite optimizations (e.g. `[tf.lite.Optimize.DEFAULT]`).
      representative_dataset: for full-integer quantization; a callable
        yielding `(signature_name, {input_name: array})`. Calibration runs
        with TF-Text's ops registered.
      supported_types: e.g. `[tf.float16]` for float16 weights.
      float_ops: TFLite op types to keep float32 when quantizing with a
        representative dataset (e.g. `INT8_FLOAT_OPS`).

    Returns:
      The TFLite flatbuffer.

    Raises:
      ValueError: the model would need Flex or non-TF-Text custom ops.
    """
    del module  # The variables come from the functions themselves.
    staging = tempfile.mkdtemp(prefix="bert_tf_tflite_")
    try:
        tf.saved_model.save(_staging_root(signatures), staging, signatures=signatures)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            staging, signature_keys=list(signatures)
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.allow_custom_ops = True  # TF-Text's ops, audited below.
        converter.optimizations = list(optimizations)
        if supported_types:
            converter.target_spec.supported_types = list(supported_types)
        if representative_dataset is None:
            model = converter.convert()
        else:
            converter.representative_dataset = representative_dataset
            # Calibration invokes the model, tokenizer included.
            converter.target_spec._experimental_custom_op_registerers = _tf_text_registerers()
            # Calibrate, then quantize all but `float_ops`: the converter has
            # no option for the latter, and the public QuantizationDebugger
            # that has one fails on models with several signatures.
            converter._experimental_calibrate_only = True
            # The converter's own quantizer, the only one that takes
            # denylisted op types; imported here so that float exports never
            # depend on this internal module.
            from tensorflow.lite.python import convert as lite_convert

            model = lite_convert.mlir_quantize(
                converter.convert(), denylisted_ops=list(float_ops) or None
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    op_audit.audit_tflite(model)
    return model


def convert_preprocessing(
    tokenizer: BertTokenizer,
    seq_length: int = 128,
    truncator: str = "round_robin",
) -> bytes:
    """The preprocessing model as TFLite.

    Signatures: `serving_default` (input `text` [None] string) and
    `serving_pair` (`text_a`, `text_b`), each returning `input_word_ids`,
    `input_mask`, `input_type_ids` int32 [None, seq_length], identical to the
    TensorFlow graph.
    """
    # One shard: LiteRT runs a graph on one thread.
    module = PreprocessingModule(tokenizer, seq_length, truncator, num_shards=1)
    return convert_module(module, module.signatures())


def _input_names(function: tf.types.experimental.ConcreteFunction) -> list[str]:
    """The signature's input names, in argument order."""
    args, kwargs = function.structured_input_signature
    specs = list(args) + [kwargs[k] for k in sorted(kwargs)]
    names = [getattr(spec, "name", None) for spec in specs]
    if not all(names):
        raise ValueError(f"every input of the serving function needs a name, got {names}")
    return names


def _calibration_rows(
    texts: Sequence, names: Sequence[str], limit: int
) -> list[dict[str, np.ndarray]]:
    """Checks the user's texts and spreads `limit` of them over the whole set.

    A text is a string for a one-input signature, or a tuple (in input
    order) or dict (by input name) for several inputs.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("representative_texts must be a sequence of texts, not one string")
    texts = list(texts)
    if not texts:
        raise ValueError("representative_texts is empty")
    if limit < 1:
        raise ValueError(f"num_calibration_examples={limit}; expected >= 1")
    # Evenly spaced, so a sorted or grouped corpus is still represented.
    step = max(1, len(texts) // limit)
    rows = []
    for index in range(0, len(texts), step)[:limit]:
        item = texts[index]
        if isinstance(item, (str, bytes)):
            values = [item]
        elif isinstance(item, Mapping):
            missing = [n for n in names if n not in item]
            if missing:
                raise ValueError(
                    f"representative_texts[{index}] lacks inputs {missing}; "
                    f"the model takes {list(names)}"
                )
            values = [item[n] for n in names]
        elif isinstance(item, (tuple, list)):
            values = list(item)
        else:
            values = [item]  # Rejected below, naming the input.
        if len(values) != len(names):
            raise ValueError(
                f"representative_texts[{index}] has {len(values)} texts; the "
                f"model takes {len(names)} ({', '.join(names)})"
            )
        row = {}
        for name, value in zip(names, values):
            if isinstance(value, str):
                value = value.encode("utf-8")
            if not isinstance(value, bytes):
                raise TypeError(
                    f"representative_texts[{index}] input {name!r} is a "
                    f"{type(value).__name__}, not a string"
                )
            row[name] = np.array([value], dtype=object)  # [1] string.
        rows.append(row)
    return rows


def convert_task(
    module: TaskServingModule,
    quantization: str = "float32",
    representative_texts: Sequence | None = None,
    num_calibration_examples: int = 100,
) -> bytes:
    """A raw-string task serving module as one TFLite file.

    Signatures: `serving_default` (from the module's `tflite_signatures()`:
    `tf.string` [None] inputs, the task's outputs) and `preprocess` (input
    `text`; `input_word_ids`, `input_mask`, `input_type_ids` int32 [None, S])
    when the module offers it.

    Args:
      module: a `TaskServingModule` (e.g. from
        `registry.build_serving_module`).
      quantization: `"float32"`, `"float16"` (float16 weights),
        `"dynamic_int8"` (int8 weights, dynamic-range activations) or
        `"int8"` (int8 encoder calibrated on `representative_texts`; strings,
        TF-Text's ops and `INT8_FLOAT_OPS` stay as they are).
      representative_texts: texts like those the model will see (strings,
        or tuples / dicts of strings for pair inputs); required for
        `"int8"`, ignored otherwise.
      num_calibration_examples: how many of them calibrate (evenly spaced).

    Returns:
      The TFLite flatbuffer (builtins and TF-Text's custom ops only).

    Raises:
      ValueError: an unknown quantization, `"int8"` without texts, texts
        that do not fit the inputs, or ops LiteRT could not run.
      TypeError: a text that is not a string.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"quantization={quantization!r}; expected one of {', '.join(QUANTIZATIONS)}"
        )
    signatures = dict(module.tflite_signatures())
    preprocessor = getattr(module, "preprocessor", None)
    if preprocessor is not None and "preprocess" not in signatures:
        signatures["preprocess"] = preprocessor.__call__.get_concrete_function()

    options: dict[str, Any] = {}
    if quantization != "float32":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        options["supported_types"] = [tf.float16]
    if quantization == "int8":
        if representative_texts is None:
            raise ValueError(
                'quantization="int8" calibrates activation ranges on your '
                "text: pass representative_texts (a few hundred typical "
                'inputs), or use quantization="dynamic_int8"'
            )
        rows = _calibration_rows(
            representative_texts,
            _input_names(signatures["serving_default"]),
            num_calibration_examples,
        )

        def representative_dataset() -> Iterator:
            for row in rows:
                yield "serving_default", row

        options["representative_dataset"] = representative_dataset
        options["float_ops"] = INT8_FLOAT_OPS
    elif representative_texts is not None:
        logging.info(
            "representative_texts are used by quantization='int8' only; ignored for %r",
            quantization,
        )
    model = convert_module(module, signatures, **options)
    logging.info(
        "converted %s to TFLite (%s): %d bytes",
        type(module).__name__,
        quantization,
        len(model),
    )
    return model


def write_tflite(path: str, data: bytes, overwrite: bool = False) -> str:
    """Writes a TFLite file atomically (temporary file, then rename).

    Args:
      path: the `.tflite` file to create.
      data: the flatbuffer.
      overwrite: replace an existing file; without it an existing file is an
        error and is left untouched.

    Returns:
      `path`.

    Raises:
      FileExistsError: `path` exists and `overwrite` is False.
    """
    files.refuse_existing(path, overwrite)
    return files.atomic_write(path, data)


def size_report(models: Mapping[str, bytes]) -> dict[str, dict[str, Any]]:
    """Size of each variant in bytes and MiB, and relative to "float32".

    Args:
      models: variant name → flatbuffer (e.g. from `convert_task`).

    Returns:
      `{name: {"bytes": int, "mib": float, "vs_float32": float or None}}`.
    """
    base = len(models["float32"]) if "float32" in models else None
    return {
        name: {
            "bytes": len(data),
            "mib": round(len(data) / 2**20, 3),
            "vs_float32": round(len(data) / base, 3) if base else None,
        }
        for name, data in models.items()
    }
