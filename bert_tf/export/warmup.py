"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests`.

A TFRecord file of `PredictionLog` records in a SavedModel folder, which
`tensorflow_model_server` replays when it loads the version ("SavedModel
Warmup", TF Serving docs: at most 1000 records): one `PredictRequest` on
`serving_default` per example, plus one request with all of them as a batch.
The examples are run through the serving module before they are written, so
a request the model cannot answer fails at export, not at the server's load.

- `default_warmup_inputs(module)`: a few real requests fitting the module's
  inputs and task (sentences, pairs, question and context, `[MASK]`ed text);
- `warmup_examples(module, inputs)`: user examples checked and run;
- `write_warmup_requests` / `read_warmup_requests`: the file itself.

Used by `serving.export_for_serving`, which re-exports these names.

Dimension legend: B = batch (examples in a warm-up request).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

__all__ = [
    "MAX_WARMUP_RECORDS",
    "SIGNATURE",
    "WARMUP_DIR",
    "WARMUP_FILE",
    "default_warmup_inputs",
    "read_warmup_requests",
    "signature_input_names",
    "warmup_examples",
    "write_warmup_requests",
]

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
SIGNATURE = "serving_default"
# TF Serving replays at most this many warm-up records.
MAX_WARMUP_RECORDS = 1000

_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "John Smith lives in Paris and works at Acme Corp.",
    "Was the film any good? I did not think so.",
    "Straße, naïve café: 日本語のテキストも。",
)
_PAIRS = (
    ("Where does John Smith live?", "John Smith lives in Paris."),
    ("The film was great.", "The movie was awful."),
    ("A man is playing a guitar.", "Someone plays an instrument."),
)
_QUESTIONS = (
    (
        "Where does John Smith live?",
        "John Smith was born in London in 1990. He now lives in Paris, the "
        "capital of France, and works at Acme Corp.",
    ),
    (
        "When was John born?",
        "John Smith was born in London in 1990.",
    ),
    ("What colour is the fox?", "The quick brown fox jumps over the lazy dog."),
)
_MASKED = (
    "Paris is the [MASK] of France.",
    "The quick brown [MASK] jumps over the lazy dog.",
    "John [MASK] in London.",
)


def signature_input_names(module: tf.Module) -> list[str]:
    """Input names of the module's `serving_default`, in argument order."""
    function = module.signatures()[SIGNATURE]
    specs = tf.nest.flatten(function.structured_input_signature)
    return [spec.name for spec in specs]


def default_warmup_inputs(module: tf.Module) -> list[dict[str, str]]:
    """A few real requests fitting the module's inputs and task.

    Pairs for `text_a`/`text_b`, question and context for `question`/`context`,
    sentences with `[MASK]` for a fill-mask module, plain sentences otherwise.
    """
    names = signature_input_names(module)
    task = str(getattr(module, "task", "") or "")
    if names == ["question", "context"]:
        rows = _QUESTIONS
    elif len(names) == 2:
        rows = _PAIRS
    elif "mask" in task.lower():
        rows = [(s,) for s in _MASKED]
    else:
        rows = [(s,) for s in _SENTENCES]
        if len(names) > 1:
            rows = [tuple(s for _ in names) for (s,) in rows]
    return [dict(zip(names, row)) for row in rows]


def _normalize_warmup_inputs(
    module: tf.Module,
    warmup_inputs: Sequence[str | Sequence[str] | Mapping[str, str]],
) -> list[dict[str, str]]:
    """Warm-up examples as `{input name: text}`; clear errors for bad ones."""
    names = signature_input_names(module)
    examples = []
    for i, item in enumerate(warmup_inputs):
        if isinstance(item, (str, bytes)) or not isinstance(item, (Mapping, Sequence)):
            item = (item,)  # One input; its type is checked below.
        if isinstance(item, Mapping):
            keys = sorted(item)
            if keys != sorted(names):
                raise ValueError(
                    f"warm-up example {i}: inputs {keys}, but serving_default takes {names}"
                )
            row = [item[n] for n in names]
        else:
            row = list(item)
            if len(row) != len(names):
                raise ValueError(
                    f"warm-up example {i}: {len(row)} field(s) {row!r}, but "
                    f"serving_default takes {len(names)}: {names}"
                )
        for name, value in zip(names, row):
            if not isinstance(value, str):
                raise ValueError(
                    f"warm-up example {i}: input {name!r} must be a string, "
                    f"got {type(value).__name__} {value!r}"
                )
        examples.append(dict(zip(names, row)))
    if not examples:
        raise ValueError("no warm-up examples given")
    if len(examples) + 1 > MAX_WARMUP_RECORDS:
        raise ValueError(
            f"{len(examples)} warm-up examples: TF Serving replays at most "
            f"{MAX_WARMUP_RECORDS} records (one per example plus one batch)"
        )
    return examples


def _warmup_requests(examples: Sequence[Mapping[str, str]], model_name: str) -> list[object]:
    """PredictionLogs: one request per example, then one of all of them."""
    batches = [[e] for e in examples]
    if len(examples) > 1:
        batches.append(list(examples))
    logs = []
    for batch in batches:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = SIGNATURE
        for name in batch[0]:
            values = np.array([e[name].encode("utf-8") for e in batch], object)
            request.inputs[name].CopyFrom(  # [B] tf.string
                tf.make_tensor_proto(values, dtype=tf.string)
            )
        logs.append(
            prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
        )
    return logs


def write_warmup_requests(
    export_dir: str,
    module: tf.Module,
    model_name: str,
    warmup_inputs: Sequence | None = None,
) -> int:
    """Writes `assets.extra/tf_serving_warmup_requests` into a SavedModel folder.

    The examples are run through the module first, so a request the model
    cannot answer fails here, not at the server's load.

    Args:
      export_dir: the SavedModel folder.
      module: its serving module (for the input names and the check run).
      model_name: written into each request's `model_spec.name`.
      warmup_inputs: texts (one input), tuples in input order, or dicts by
        input name; None uses `default_warmup_inputs(module)`.

    Returns:
      The number of records written.
    """
    examples = warmup_examples(module, warmup_inputs)
    logs = _warmup_requests(examples, model_name)
    directory = os.path.join(export_dir, WARMUP_DIR)
    os.makedirs(directory, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(directory, WARMUP_FILE)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return len(logs)


def warmup_examples(
    module: tf.Module, warmup_inputs: Sequence | None = None
) -> list[dict[str, str]]:
    """Checked warm-up examples `{input name: text}` that the module answers.

    Raises:
      ValueError: an example does not fit the inputs, there are too many, or
        `serving_default` fails on them (the TF error message is kept).
    """
    if warmup_inputs is None:
        examples = default_warmup_inputs(module)
    else:
        examples = _normalize_warmup_inputs(module, warmup_inputs)
    function = module.signatures()[SIGNATURE]
    names = signature_input_names(module)
    try:
        function(**{n: tf.constant([e[n] for e in examples], tf.string) for n in names})
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
        message = getattr(e, "message", None) or str(e)
        raise ValueError(f"the warm-up examples fail on serving_default: {message}") from None
    return examples


def read_warmup_requests(
    export_dir: str,
) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The warm-up requests of a SavedModel folder.

    Returns:
      `(signature_name, {input name: numpy array})` per record (strings as
      `bytes` objects).
    """
    path = os.path.join(export_dir, WARMUP_DIR, WARMUP_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no warm-up requests in {export_dir}")
    requests = []
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(record)
        request = log.predict_log.request
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        requests.append((request.model_spec.signature_name, inputs))
    return requests
