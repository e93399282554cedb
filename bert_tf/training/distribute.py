"""Distribution strategies and mixed precision by name (command-line flags).

bfloat16 on a CPU: `mixed_bfloat16` pays off only with AVX512-BF16 or AMX
(oneDNN's bfloat16 kernels), and there in graph mode: measured on an
AVX512-BF16 machine, 1.56x float32 without XLA and 0.96x with it, so keep
`jit_compile` off for bfloat16 on a CPU (`warn_if_slow_jit`). Without those
instructions oneDNN emulates bfloat16, slower than float32:
`set_mixed_precision` then trains in float32 and logs one warning line,
unless `force=True` (`--force_mixed_precision`).

Example:

>>> get_strategy("default").num_replicas_in_sync
1
"""

import json
import os

import keras
import tensorflow as tf
from absl import logging

from bert_tf import hardware

__all__ = [
    "STRATEGIES",
    "PRECISIONS",
    "get_strategy",
    "bfloat16_is_fast",
    "set_mixed_precision",
    "warn_if_slow_jit",
    "is_chief",
    "worker_index",
]

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker_mirrored", "tpu")
# Flag value → Keras dtype policy.
PRECISIONS = {
    "": "float32",
    "float32": "float32",
    "mixed_float16": "mixed_float16",
    "float16": "mixed_float16",
    "mixed_bfloat16": "mixed_bfloat16",
    "bfloat16": "mixed_bfloat16",
}


class _NestedReduce:
    """`reduce` applied leaf by leaf to nested structures.

    Keras 3's `Model.fit` (TF backend) calls `strategy.reduce("MEAN",
    first_batch)` on the whole (nested) first batch of a distributed
    dataset to build the model symbolically, and, on multi-worker
    strategies, `strategy.reduce("MEAN", log, axis=0)` on every scalar log;
    the mirrored strategies take one value at a time and cannot reduce a
    scalar along axis 0. Here nested structures are reduced leaf by leaf,
    and a scalar along axis 0 is reduced across replicas only (its mean
    over replicas, which is what the logs mean).
    """

    def reduce(self, reduce_op, value, axis):
        if tf.nest.is_nested(value):
            return tf.nest.map_structure(lambda v: self.reduce(reduce_op, v, axis), value)
        if axis is not None:
            local = self.experimental_local_results(value)[0]
            if getattr(local, "shape", None) is not None and (local.shape.rank == 0):
                axis = None
        return super().reduce(reduce_op, value, axis)


class _MirroredStrategy(_NestedReduce, tf.distribute.MirroredStrategy):
    """`tf.distribute.MirroredStrategy` with nested `reduce`."""


class _MultiWorkerMirroredStrategy(_NestedReduce, tf.distribute.MultiWorkerMirroredStrategy):
    """`tf.distribute.MultiWorkerMirroredStrategy` with nested `reduce`."""


def get_strategy(name: str = "default", tpu_address: str | None = None) -> tf.distribute.Strategy:
    """A `tf.distribute.Strategy` from its flag name.

    Args:
        name: "default" (no distribution), "one_device", "mirrored" (all
            local GPUs), "multi_worker_mirrored" (workers from the
            `TF_CONFIG` environment variable) or "tpu".
        tpu_address: TPU name or address for "tpu" ("" = local TPU VM).

    Returns:
        The strategy; build and compile models under its `scope()`.

    Raises:
        ValueError: naming an unknown strategy, or a missing / malformed
            `TF_CONFIG` for "multi_worker_mirrored".
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return _MirroredStrategy()
    if name == "multi_worker_mirrored":
        raw = os.environ.get("TF_CONFIG", "")
        try:
            cluster = json.loads(raw) if raw else None
        except json.JSONDecodeError as e:
            raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
        if cluster is not None and "task" not in cluster:
            raise ValueError("TF_CONFIG has no 'task' entry")
        if cluster is None:
            logging.warning("multi_worker_mirrored without TF_CONFIG: one local worker")
        return _MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def bfloat16_is_fast() -> bool:
    """Whether bfloat16 compute beats float32 here: a GPU, a TPU, or a CPU
    with AVX512-BF16 or AMX (`hardware.has_fast_bfloat16`)."""
    return bool(
        hardware.has_fast_bfloat16()
        or tf.config.list_physical_devices("GPU")
        or tf.config.list_logical_devices("TPU")
    )


def set_mixed_precision(policy: str | None, force: bool = False) -> str:
    """Sets Keras' global dtype policy; call before building the model.

    With "mixed_float16", `Model.compile` wraps the optimizer in a
    `keras.optimizers.LossScaleOptimizer` (dynamic loss scaling).
    "mixed_bfloat16" where bfloat16 is emulated (a CPU without AVX512-BF16
    or AMX, and no GPU or TPU: `bfloat16_is_fast`) sets "float32" instead,
    never slower, with one warning line; `force` keeps bfloat16 anyway.

    Args:
        policy: None, "float32", "mixed_float16" / "float16" or
            "mixed_bfloat16" / "bfloat16".
        force: set "mixed_bfloat16" even where bfloat16 is emulated.

    Returns:
        The Keras policy name set.
    """
    key = policy or ""
    if key not in PRECISIONS:
        raise ValueError(
            f"mixed_precision must be one of float32, mixed_float16, mixed_bfloat16; got {policy!r}"
        )
    name = PRECISIONS[key]
    if name == "mixed_bfloat16" and not force and not bfloat16_is_fast():
        logging.warning(
            "mixed_precision=%s: bfloat16 is emulated on this CPU (%s: no "
            "AVX512-BF16/AMX, no GPU), slower than float32; training in float32 "
            "instead (--force_mixed_precision keeps bfloat16)",
            policy,
            hardware.cpu_model(),
        )
        name = "float32"
    keras.config.set_dtype_policy(name)
    return name


def warn_if_slow_jit(policy: str, jit_compile: bool) -> bool:
    """Logs a warning for XLA with bfloat16 on a CPU (slower than graph mode).

    Returns:
        Whether it warned.
    """
    if not (jit_compile and policy == "mixed_bfloat16"):
        return False
    if tf.config.list_physical_devices("GPU") or tf.config.list_logical_devices("TPU"):
        return False
    logging.warning(
        "--jit_compile with bfloat16 on a CPU: XLA runs bfloat16 slower than "
        "graph mode (oneDNN); leave --jit_compile off for the fast path"
    )
    return True


def worker_index(strategy: tf.distribute.Strategy) -> int:
    """This worker's index in a multi-worker job (0 elsewhere)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 0
    return int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes checkpoints and exports (worker 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    cluster = resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and "chief" not in cluster and resolver.task_id == 0
