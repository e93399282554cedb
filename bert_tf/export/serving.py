"""TF Serving layout: versioned SavedModels, `models.config`, warm-up requests.

`export_for_serving` turns a fine-tuned model folder (or any serving module
with `signatures()`) into what `tensorflow_model_server` loads:

    savedmodels/                     <- base_dir (--model_config_file lives here)
      models.config                  <- ModelServerConfig text proto, all models
      sst/                           <- one model (its base_path)
        1/                           <- integer versions; the newest is served
          saved_model.pb  variables/  assets/vocab.txt
          assets.extra/tf_serving_warmup_requests

- A version is written to a hidden temporary folder beside the versions and
  renamed into place when complete: the server never sees a half-written
  version (it only watches integer-named folders), and a failed export leaves
  every existing version as it was. An existing version is only replaced
  with `overwrite=True`.
- `assets.extra/tf_serving_warmup_requests` is a TFRecord file of
  `PredictionLog` records (one `PredictRequest` on `serving_default` per
  example, plus one request with all of them as a batch), which the server
  replays when it loads the version ("SavedModel Warmup", TF Serving docs:
  at most 1000 records); written by `warmup` (its functions are re-exported
  here).
- `models.config` lists every model folder under `base_dir` that holds a
  version; `base_path` is the path the *server* sees: by default
  `/models/<name>`, the `tensorflow/serving` image's convention (mount
  `base_dir` at `/models`); `serving_base_path=None` writes this machine's
  absolute paths, for a server on the same machine. The text is checked by
  parsing it into `tensorflow_serving.config.ModelServerConfig`.

Which TF Serving release can run the export (`min_serving_release`): the
stock server links core TensorFlow plus one TF-Text release, pinned in
tensorflow_serving/workspace.bzl (`org_tensorflow_text`), not always of its
own minor version. What was found:

- TF-Text releases that introduced the ops (TF-Text release notes):
  `FastWordpieceTokenize*` before 2.8 (2.8.1 already extends it),
  `FastBertNormalize` 2.9 ("New FastBertNormalizer"), `ByteSplit` 2.10
  ("New ByteSplitter"); op names in the `TFText>` namespace (e.g.
  `TFText>RoundRobinTrim`) came with 2.16 (tensorflow/serving#4057: models of
  TF-Text >= 2.16.1 fail on servers that link 2.12.1).
- TF-Text linked by the server: 2.10 lacked `FastBertNormalize`
  (tensorflow/serving#2064); 2.12 to 2.18 link TF-Text 2.12.1
  (tensorflow/serving#4057); the 2.20 workspace pins TF-Text 2.20.0.

Decision: the minimum is the later of (a) the first server release whose
TF-Text has every TF-Text op used and (b) the TensorFlow minor version that
wrote the graph. (b) because TensorFlow only promises that newer runtimes
read older graphs: a graph written by TF 2.20 may carry op attributes or
function features an older server rejects. For today's exports both give
2.20 or (a) is older; the report keeps both figures.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_text
from absl import logging
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from bert_tf import files
from bert_tf.export import precision as precision_lib
from bert_tf.export import registry, saved_model_writer
from bert_tf.export.serving_base import track_backing_variables
from bert_tf.export.warmup import (
    WARMUP_FILE,
    default_warmup_inputs,
    read_warmup_requests,
    signature_input_names,
    warmup_examples,
    write_warmup_requests,
)

__all__ = [
    "ExportResult",
    "MODELS_CONFIG",
    "WARMUP_FILE",
    "default_warmup_inputs",
    "export_for_serving",
    "list_models",
    "list_versions",
    "min_serving_release",
    "models_config_text",
    "read_warmup_requests",
    "signature_input_names",
    "track_backing_variables",
    "write_models_config",
    "warmup_examples",
    "write_warmup_requests",
]

MODELS_CONFIG = "models.config"
DEFAULT_SERVING_BASE_PATH = "/models"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# First TF-Text release with each op (see the module docstring for sources).
_TF_TEXT_OP_SINCE = {
    "FastWordpieceTokenize": (2, 8),
    "FastWordpieceTokenizeWithOffsets": (2, 8),
    "FastWordpieceDetokenize": (2, 8),
    "FastBertNormalize": (2, 9),
    "ByteSplit": (2, 10),
    "ByteSplitByOffsets": (2, 10),
}
# Ops in this namespace exist from TF-Text 2.16 on.
_NAMESPACED_SINCE = (2, 16)
# (first TF Serving release, the TF-Text release it links), ascending.
_SERVING_TF_TEXT = (((2, 12), (2, 12)), ((2, 20), (2, 20)))


@dataclasses.dataclass
class ExportResult:
    """What `export_for_serving` wrote.

    Attributes:
      path: the version folder (`<base_dir>/<name>/<version>`).
      name: the model name (its folder under `base_dir`, and the name in
        `models.config`, REST URLs and gRPC `model_spec.name`).
      version: the integer version.
      audit: the op audit, `{"core": [...], "tf_text": [...]}`.
      min_serving_release: the oldest `tensorflow_model_server` release that
        can run the export, e.g. `"2.20"` (see the module docstring).
      serving_release_report: the figures behind it (per op TF-Text release,
        server release for the TF-Text ops alone, TF that wrote the graph).
      warmup_records: how many `PredictionLog` records were written.
      models_config: the path of the (re)written `models.config`.
      precision: the compute precision of the model, "float32" or
        "bfloat16" (also in `assets.extra/export_info.json`).
    """

    path: str
    name: str
    version: int
    audit: dict[str, list[str]]
    min_serving_release: str
    serving_release_report: dict[str, object]
    warmup_records: int
    models_config: str
    precision: str = "float32"


# ---------------------------------------------------------------------------
# Versions and models.config.


def list_versions(model_root: str) -> list[int]:
    """The integer versions under a model folder, ascending (TF Serving's view).

    Only folders whose name is a non-negative integer count, as for the
    server's file-system source; hidden temporary folders do not.
    """
    if not os.path.isdir(model_root):
        return []
    return sorted(
        int(entry)
        for entry in os.listdir(model_root)
        if entry.isdigit() and os.path.isdir(os.path.join(model_root, entry))
    )


def list_models(base_dir: str) -> list[str]:
    """Model folders under `base_dir` holding at least one SavedModel version."""
    if not os.path.isdir(base_dir):
        return []
    names = []
    for entry in sorted(os.listdir(base_dir)):
        root = os.path.join(base_dir, entry)
        if entry.startswith(".") or not os.path.isdir(root):
            continue
        if any(
            os.path.exists(os.path.join(root, str(v), "saved_model.pb"))
            for v in list_versions(root)
        ):
            names.append(entry)
    return names


def _base_path(base_dir: str, name: str, serving_base_path: str | None) -> str:
    if serving_base_path is None:
        return os.path.join(os.path.abspath(base_dir), name)
    return serving_base_path.rstrip("/") + "/" + name


def models_config_text(
    base_dir: str,
    serving_base_path: str | None = DEFAULT_SERVING_BASE_PATH,
    names: Sequence[str] | None = None,
) -> str:
    """The `models.config` text for the models under `base_dir`.

    Args:
      base_dir: the folder of model folders.
      serving_base_path: where the server sees `base_dir` (`/models` in the
        `tensorflow/serving` image); None for this machine's absolute path.
      names: the models to list; None lists `list_models(base_dir)`.

    Returns:
      A `ModelServerConfig` text proto, validated by parsing it.
    """
    names = list_models(base_dir) if names is None else list(names)
    lines = ["model_config_list {"]
    for name in names:
        base_path = _base_path(base_dir, name, serving_base_path)
        lines += [
            "  config {",
            f"    name: {_quote(name)}",
            f"    base_path: {_quote(base_path)}",
            '    model_platform: "tensorflow"',
            "  }",
        ]
    lines.append("}")
    text = "\n".join(lines) + "\n"
    parsed = parse_models_config(text)
    got = [c.name for c in parsed.model_config_list.config]
    if got != names:  # pragma: no cover - a quoting bug would show here
        raise ValueError(f"models.config lists {got}, expected {names}")
    return text


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_models_config(text: str):
    """Parses `models.config` text into a `ModelServerConfig` proto.

    Raises:
      ValueError: the text is not a valid `ModelServerConfig`.
    """
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise ValueError(f"invalid models.config: {e}") from None
    return config


def write_models_config(
    base_dir: str,
    serving_base_path: str | None = DEFAULT_SERVING_BASE_PATH,
) -> str:
    """(Re)writes `<base_dir>/models.config` listing every model; returns its path.

    Written to a temporary file and renamed, so a reader never sees half of it.
    """
    text = models_config_text(base_dir, serving_base_path)
    return files.atomic_write(os.path.join(base_dir, MODELS_CONFIG), text)


# ---------------------------------------------------------------------------
# Serving release.


def _release(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _minor(version_string: str) -> tuple[int, int]:
    major, minor = version_string.split(".")[:2]
    return int(major), int(re.match(r"\d+", minor).group())


def min_serving_release(
    audit: Mapping[str, Sequence[str]],
) -> dict[str, object]:
    """The oldest `tensorflow_model_server` that can run an audited export.

    Args:
      audit: `op_audit.audit_saved_model`'s result.

    Returns:
      `{"min_serving_release": "2.20", "tf_text_ops": {op: first TF-Text
      release}, "serving_release_for_tf_text_ops": ..., "written_by_tf": ...}`.
      An op this table does not know counts as new in the installed TF-Text.
    """
    installed_text = _minor(tensorflow_text.__version__)
    writer = _minor(tf.__version__)
    per_op = {}
    for op in audit.get("tf_text", ()):
        if op in _TF_TEXT_OP_SINCE:
            per_op[op] = _TF_TEXT_OP_SINCE[op]
        elif op.startswith("TFText>"):
            per_op[op] = _NAMESPACED_SINCE
        else:
            per_op[op] = installed_text
    needed_text = max(per_op.values(), default=(0, 0))
    for_ops = None
    for serving, linked_text in _SERVING_TF_TEXT:
        if linked_text >= needed_text:
            for_ops = serving
            break
    if for_ops is None:  # Newer than any server we know of.
        for_ops = needed_text
    minimum = max(for_ops, writer)
    return {
        "min_serving_release": _release(minimum),
        "tf_text_ops": {op: _release(v) for op, v in sorted(per_op.items())},
        "serving_release_for_tf_text_ops": _release(for_ops),
        "written_by_tf": _release(writer),
    }


# ---------------------------------------------------------------------------
# Export.


def _check_name(name: str) -> str:
    if not name or not _NAME.match(name) or name == "recipes":
        raise ValueError(
            f"model name {name!r}: use letters, digits, '_', '-', '.' (not "
            "starting with '.' or '-'; 'recipes' is reserved)"
        )
    return name


def export_for_serving(
    module_or_model_dir: str | tf.Module,
    base_dir: str = "savedmodels",
    name: str | None = None,
    version: int | None = None,
    overwrite: bool = False,
    warmup_inputs: Sequence | None = None,
    serving_base_path: str | None = DEFAULT_SERVING_BASE_PATH,
    precision: str | None = None,
) -> ExportResult:
    """Exports a model as `<base_dir>/<name>/<version>` for TF Serving.

    Args:
      module_or_model_dir: a fine-tuned model folder (`model.keras`,
        `vocab.txt`, `task.json`), or a serving module with `signatures()`
        (a `TaskServingModule` or `PreprocessingModule`).
      base_dir: the folder of model folders (`models.config` is written here).
      name: the model name; default: the model folder's name, or the
        module's `task`.
      version: the integer version; None takes the next free one (1 for a
        new model).
      overwrite: replace an existing version; without it an existing version
        is an error and nothing is written.
      warmup_inputs: example requests (texts, tuples in input order, or
        dicts by input name); None uses a few built-in ones fitting the inputs.
      serving_base_path: the folder where the server sees `base_dir`, for
        `models.config`; None writes this machine's absolute path.
      precision: the model's compute dtype, "float32" (default) or
        "bfloat16" (`precision.with_precision`: fast on AVX512-BF16/AMX CPUs
        and GPUs; outputs stay float32). A module is exported as built: a
        precision given with one must match its model's. Exporting bfloat16
        on a machine without fast bfloat16 logs a warning.

    Returns:
      An `ExportResult`.

    Raises:
      FileNotFoundError: the model folder or one of its files is missing.
      FileExistsError: the version exists and `overwrite` is False.
      ValueError: a bad name, version, precision or warm-up example, a
        folder that is not a fine-tuned model, or an op outside core TF and
        TF-Text.

    Example:
    >>> import tempfile
    >>> from bert_tf.text import BertTokenizer
    >>> from bert_tf.export.preprocessing import PreprocessingModule
    >>> tok = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hi"],
    ...                     lower_case=True)
    >>> base = tempfile.mkdtemp()
    >>> r = export_for_serving(PreprocessingModule(tok, 8), base, name="pre")
    >>> r.version, r.warmup_records, list_models(base)
    (1, 5, ['pre'])
    """
    if isinstance(module_or_model_dir, (str, os.PathLike)):
        model_dir = os.fspath(module_or_model_dir)
        if not os.path.isdir(model_dir):
            raise FileNotFoundError(f"model folder not found: {model_dir!r}")
        default_name = os.path.basename(os.path.normpath(model_dir))
        module = None
    else:
        model_dir = None
        module = module_or_model_dir
        default_name = str(getattr(module, "task", "") or "")
        if not default_name and name is None:
            raise ValueError("pass `name` for a module without a `task`")
    name = _check_name(name if name is not None else default_name)
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, (int, np.integer)):
            raise ValueError(f"version must be an integer, got {version!r}")
        if version < 0:
            raise ValueError(f"version must be >= 0, got {version}")
        version = int(version)
    model_root = os.path.join(base_dir, name)
    if version is not None and not overwrite:
        _refuse_existing(model_root, version)
    if module is None:
        precision = precision_lib.check_precision(precision)
        module = registry.build_serving_module(model_dir, precision=precision)
    else:
        precision = _module_precision(module, precision)
    precision_lib.warn_if_slow(precision)
    # Checked before the (slow) save, so bad examples fail fast.
    examples = warmup_examples(module, warmup_inputs)
    track_backing_variables(module)
    created_root = not os.path.isdir(model_root)
    os.makedirs(model_root, exist_ok=True)
    staging = files.make_temp_dir(model_root, prefix=".export-")
    try:
        staged = os.path.join(staging, "saved_model")
        audit = saved_model_writer.save_serving_module(module, staged)
        precision_lib.write_export_info(staged, precision)
        records = write_warmup_requests(staged, module, name, examples)
        if version is None:
            versions = list_versions(model_root)
            version = versions[-1] + 1 if versions else 1
        target = os.path.join(model_root, str(version))
        _move_into_place(staged, target, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created_root and not os.listdir(model_root):
            os.rmdir(model_root)  # A failed first export leaves no trace.
    report = min_serving_release(audit)
    config_path = write_models_config(base_dir, serving_base_path)
    logging.info(
        "exported %s version %d to %s (%s; TF-Text ops %s; TF Serving >= %s)",
        name,
        version,
        target,
        precision,
        audit["tf_text"],
        report["min_serving_release"],
    )
    return ExportResult(
        path=target,
        name=name,
        version=version,
        audit=audit,
        min_serving_release=str(report["min_serving_release"]),
        serving_release_report=report,
        warmup_records=records,
        models_config=config_path,
        precision=precision,
    )


def _module_precision(module: tf.Module, precision: str | None) -> str:
    """The compute precision of a module's model; `precision` must agree."""
    model = getattr(module, "model", None)
    actual = precision_lib.model_precision(model) if model is not None else "float32"
    if precision is not None and precision_lib.check_precision(precision) != actual:
        raise ValueError(
            f"precision={precision!r}, but the module's model computes in {actual}: "
            f"build the module from precision.with_precision(model, {precision!r})"
        )
    return actual


def _refuse_existing(model_root: str, version: int) -> None:
    target = os.path.join(model_root, str(version))
    if os.path.exists(target):
        raise FileExistsError(
            f"{target} exists (versions {list_versions(model_root)}); pass "
            "overwrite=True (--overwrite) to replace it, or leave the version "
            "out to take the next one"
        )


def _move_into_place(staged: str, target: str, overwrite: bool) -> None:
    """Renames the finished version in; keeps the old one until that worked."""
    if os.path.exists(target) and not overwrite:
        _refuse_existing(os.path.dirname(target), int(os.path.basename(target)))
    files.replace_dir(staged, target)
