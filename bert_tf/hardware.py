"""What the machine can do fast: CPU instruction sets and accelerators.

The fast paths (bfloat16 compute, int8) pay off only where the hardware has
the instructions: on a CPU without AVX512-BF16 or AMX, oneDNN emulates
bfloat16 and is slower than float32. Every fast path asks here first and
falls back to float32 where the answer is no; every benchmark line records
`describe()`.

Example:

>>> features = cpu_features()
>>> [name for name in CPU_FEATURES if name not in features]
[]
>>> isinstance(has_fast_bfloat16(), bool)
True
"""

from __future__ import annotations

import functools
import os
import platform

import tensorflow as tf

__all__ = [
    "CPU_FEATURES",
    "cpu_features",
    "cpu_model",
    "describe",
    "gpu_names",
    "has_fast_bfloat16",
    "has_fast_int8",
]

# The flags (as /proc/cpuinfo names them) that decide the fast paths.
CPU_FEATURES = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_bf16",
    "avx512_vnni",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)

_CPUINFO = "/proc/cpuinfo"


def _cpuinfo_field(name: str) -> str:
    try:
        with open(_CPUINFO, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return ""


@functools.cache
def cpu_features() -> dict[str, bool]:
    """Each of `CPU_FEATURES` → whether this CPU has it.

    Read from /proc/cpuinfo (Linux, the servers and Colab). Elsewhere every
    flag is False, so the fast paths fall back to float32.
    """
    flags = set(_cpuinfo_field("flags").split())
    return {name: name in flags for name in CPU_FEATURES}


def cpu_model() -> str:
    """The CPU's model name (or the platform's processor string)."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def has_fast_bfloat16() -> bool:
    """Whether bfloat16 matmuls run natively on this CPU (AVX512-BF16 or AMX)."""
    features = cpu_features()
    return features["avx512_bf16"] or features["amx_bf16"]


def has_fast_int8() -> bool:
    """Whether int8 dot products run natively (VNNI or AMX-INT8)."""
    features = cpu_features()
    return features["avx512_vnni"] or features["avx_vnni"] or features["amx_int8"]


def gpu_names() -> list[str]:
    """Names of the GPUs TensorFlow sees."""
    return [
        tf.config.experimental.get_device_details(d).get("device_name", d.name)
        for d in tf.config.list_physical_devices("GPU")
    ]


def describe() -> dict:
    """One JSON-able record of the machine, for benchmark lines and logs."""
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cpu_features": cpu_features(),
        "fast_bfloat16": has_fast_bfloat16(),
        "fast_int8": has_fast_int8(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
