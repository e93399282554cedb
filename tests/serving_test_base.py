"""The checks every serving export shares, so each task's test keeps its own.

Modelled on keras-hub's `keras_hub/src/tests/test_case.py`
(`run_serialization_test`, `run_litert_export_test`, ...), as plain functions
for the suite's pytest function-style tests:

- `source_vocab` / `load_without_source`: export from a vocab copy that is
  deleted before the SavedModel is loaded;
- `check_vocab_asset`: the vocabulary travels as `assets/vocab.txt`;
- `check_no_path_leak`: no build-machine path inside the exported files;
- `check_signatures`: the signature set, its input names, a `None` batch;
- `check_batches` / `check_unequal_batches`: empty and small batches keep
  the batch dimension, unequal batches fail;
- `check_tf1_loader` / `check_tf1_result`: TF Serving's C++ path
  (`serving_testing.run_tf1_fresh`), compared with a reference;
- `tflite_interpreter`, `run_tflite`, `assert_outputs_close`,
  `check_tflite`: the float32 TFLite file in LiteRT equals a reference.
"""

import contextlib
import os
import shutil

import numpy as np
import pytest
import serving_testing
import tensorflow as tf

from bert_tf.text import save_vocabulary

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
PACKED_INPUTS = ["input_mask", "input_type_ids", "input_word_ids"]


# ---------------------------------------------------------------------------
# The vocabulary: an asset, not a path on the build machine.


@contextlib.contextmanager
def source_vocab(root, vocab, name="src"):
    """Yields the path of `vocab` (a token list) written in `root/name`;
    that folder is deleted on exit, so the export must carry its own copy."""
    src = os.path.join(root, name)
    os.makedirs(src)
    yield save_vocabulary(vocab, os.path.join(src, "vocab.txt"))
    shutil.rmtree(src)


def load_without_source(export_dir, *sources):
    """`tf.saved_model.load(export_dir)` once every source path is gone."""
    for source in sources:
        assert not os.path.exists(source), source
    return tf.saved_model.load(export_dir)


def export_without_source(root, vocab, build, save):
    """`build(vocab path)` makes a module from a vocab copy (`source_vocab`),
    `save(module)` exports it and returns the export folder; the copy is
    deleted before the export is loaded. Returns `(loaded, export_dir,
    deleted source folder, module)`."""
    with source_vocab(root, vocab) as path:
        module = build(path)
        export_dir = save(module)
    source = os.path.dirname(path)
    return load_without_source(export_dir, source), export_dir, source, module


def check_vocab_asset(export_dir, vocab):
    """`assets/vocab.txt` holds `vocab`: a token list (line by line) or the
    path of the source file (byte for byte)."""
    with open(os.path.join(export_dir, "assets", "vocab.txt"), "rb") as f:
        data = f.read()
    if isinstance(vocab, (str, os.PathLike)):
        with open(vocab, "rb") as f:
            assert data == f.read(), vocab
    else:
        assert data.decode("utf-8").splitlines() == list(vocab)


def check_no_path_leak(export_dir, *paths):
    """No file under `export_dir` holds any of `paths`, the tests' folder or
    the folder the export was written in."""
    paths = paths + (TESTS_DIR, os.path.dirname(export_dir))
    files = 0
    for root, _, names in os.walk(export_dir):
        for name in names:
            files += 1
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            for path in paths:
                assert path.encode() not in data, (name, path)
    assert files, f"nothing exported under {export_dir}"


# ---------------------------------------------------------------------------
# Signatures and batches.


def _signature_inputs(obj):
    """{signature: sorted input names} of a loaded SavedModel, a module with
    `signatures()`, or one result of `serving_testing.run_tf1_fresh`."""
    if isinstance(obj, dict):
        assert sorted(obj["inputs"]) == obj["signatures"]
        return {name: sorted(inputs) for name, inputs in obj["inputs"].items()}, {}
    functions = obj.signatures() if callable(obj.signatures) else obj.signatures
    inputs = {name: sorted(_input_specs(fn)) for name, fn in functions.items()}
    return inputs, dict(functions)


def _input_specs(fn):
    """{name: TensorSpec} of a concrete function's inputs, by keyword (a
    loaded signature) or by position (a traced method, named by its spec)."""
    args, kwargs = fn.structured_input_signature
    specs = dict(kwargs)
    for spec in tf.nest.flatten(args):
        if isinstance(spec, tf.TensorSpec):
            specs[spec.name] = spec
    return specs


def check_signatures(obj, expected, exact=False):
    """The signatures `expected` names (`{name: [input names]}`) are there
    with exactly those inputs (all of them with `exact`); every signature of
    a TF2 object takes and gives a `None` batch dimension."""
    inputs, functions = _signature_inputs(obj)
    if exact:
        assert sorted(inputs) == sorted(expected)
    for name, names in expected.items():
        assert name in inputs, (name, sorted(inputs))
        assert inputs[name] == sorted(names), (name, inputs[name])
    for name, fn in functions.items():
        for spec in _input_specs(fn).values():
            assert spec.shape[0] is None, (name, spec)
        for key, spec in fn.structured_outputs.items():
            if spec.shape.rank:
                assert spec.shape[0] is None, (name, key, spec)
    return inputs


def _numpy(value):
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def check_batches(fn, make_inputs, sizes=(0, 1, 3)):
    """`fn(**make_inputs(n))` for each `n` of `sizes`: every output has the
    batch dimension `n`. Returns `{n: {output: numpy}}`."""
    results = {}
    for n in sizes:
        out = {k: _numpy(v) for k, v in fn(**make_inputs(n)).items()}
        assert out, n
        for key, value in out.items():
            assert value.shape[:1] == (n,), (n, key, value.shape)
        results[n] = out
    return results


def check_unequal_batches(fn, inputs, match=None, error=tf.errors.InvalidArgumentError):
    """Inputs of unequal batch sizes fail with `error` (matching `match`)."""
    sizes = {k: len(v) for k, v in inputs.items()}
    assert len(set(sizes.values())) > 1, sizes
    with pytest.raises(error, match=match):
        fn(**inputs)


# ---------------------------------------------------------------------------
# TF Serving's path: the TF1 loader in a fresh process.


def check_tf1_result(result, requests, reference, compare, signatures=None):
    """One job's result of `run_tf1_fresh`: the signatures (as
    `check_signatures`), then each request's outputs against
    `compare(outputs, reference(request inputs))`. Returns what `compare`
    returned, per request."""
    if signatures is not None:
        check_signatures(result, signatures)
    assert requests and len(result["sequential"]) == len(requests)
    return [
        compare(outputs, reference(request["inputs"]))
        for request, outputs in zip(requests, result["sequential"])
    ]


def check_tf1_loader(export_dir, requests, reference, compare, workdir, signatures=None):
    """Loads `export_dir` as TF Serving does (`run_tf1_fresh`: a process that
    imports no bert_tf), answers `requests` (`[{"signature", "inputs"}]`) and
    checks them with `check_tf1_result`. Returns the job's result."""
    got = serving_testing.run_tf1_fresh(
        [{"export_dir": export_dir, "requests": requests}], str(workdir)
    )
    assert got["modules"] == []
    (result,) = got["results"]
    check_tf1_result(result, requests, reference, compare, signatures)
    return result


def assert_arrays_equal(got, want):
    """`compare` for exact outputs: every key of `want` equal in `got`."""
    for key, value in want.items():
        np.testing.assert_array_equal(got[key], _numpy(value), err_msg=key)


# ---------------------------------------------------------------------------
# TFLite in LiteRT.


def tflite_interpreter(model):
    """LiteRT's interpreter for a TFLite flatbuffer, with TF-Text's ops."""
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    import tensorflow_text

    return litert.InterpreterWithCustomOps(
        custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
        model_content=model,
    )


def run_tflite(runner, **inputs):
    """A signature runner on lists of strings (object arrays)."""
    return runner(**{k: np.array(v, dtype=object) for k, v in inputs.items()})


def assert_outputs_close(got, want, atol=1e-4, err_msg=""):
    """The same outputs: floats within `atol`, ids and strings equal."""
    assert set(got) == set(want), (sorted(got), sorted(want))
    for key, value in want.items():
        value = _numpy(value)
        message = f"{key} {err_msg}".strip()
        if value.dtype.kind == "f":
            np.testing.assert_allclose(got[key], value, atol=atol, rtol=0, err_msg=message)
        else:
            np.testing.assert_array_equal(got[key], value, err_msg=message)


def _serve_reference(module, signature):
    fn = module.signatures()[signature]

    def reference(inputs):
        return fn(**{k: tf.constant(v, tf.string) for k, v in inputs.items()})

    return reference


def check_tflite(
    module, batches, reference=None, atol=1e-4, model=None, signature="serving_default"
):
    """Converts `module` (`tflite.convert_task(module, "float32")` unless
    `model` is given), runs `signature` in LiteRT on each of `batches`
    (`{input: list of str}`) and compares with `reference(inputs)` (by
    default the module's own TF signature) by `assert_outputs_close`.
    Returns the interpreter."""
    if model is None:
        from bert_tf.export import tflite

        model = tflite.convert_task(module, "float32")
    if reference is None:
        reference = _serve_reference(module, signature)
    interpreter = tflite_interpreter(model)
    runner = interpreter.get_signature_runner(signature)
    assert batches
    for inputs in batches:
        want = reference(inputs)
        assert_outputs_close(run_tflite(runner, **inputs), want, atol, err_msg=str(inputs)[:200])
    return interpreter
