"""Batch-1 matrix products: TF's CPU kernels against LiteRT on the same work.

Why the SavedModel reaches about half of the float32 matmul peak on one
~110-piece request while the TFLite file reaches 0.85: this benchmark takes
the encoder's 24 dense products at MiniLM's shape, batch 1, as one dependent
chain (per layer: [S, H] x [H, 3H], [S, H] x [H, H], [S, H] x [H, I],
[S, I] x [I, H]; the attention and element-wise work left out), and runs it

  * in TensorFlow graph mode (`tf.function`), with the default thread pools:
    what a SavedModel gets;
  * in TensorFlow with one thread (a child process with intra- and
    inter-op parallelism 1): one core's rate on the same shapes;
  * in LiteRT (XNNPACK, one thread per core) on a TFLite file of the chain;
  * in NumPy (its BLAS), for scale;

and times the whole bert_tf encoder (float32, graph mode, batch 1, S rows)
beside it: what the encoder takes beyond TF's chain is the attention and
element-wise work, the part TF runs as over 300 separate small kernels.

It reports GFLOP/s and the fraction of the TF float32 matmul peak measured
in the same run (`encoder.matmul_peak`), TF's parallel efficiency (default
threads / (cores x one thread)) and TF / LiteRT. The sides alternate round
by round, and each figure is the median of `--rounds` rounds of `--calls`
calls, so the drift of a shared machine falls on every side alike. Progress
goes to stderr, ONE JSON line to stdout.

Usage:
    python benchmarks/gemm_batch1.py [--seq 110] [--rounds 7] [--calls 20]

Random weights; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _common  # noqa: E402
import encoder as encoder_bench  # noqa: E402

CONFIG = encoder_bench.SHAPES["minilm"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def chain_weights(seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    """Per layer: the [H, 3H], [H, H], [H, I], [I, H] kernels (float32)."""
    h, i = CONFIG.hidden_size, CONFIG.intermediate_size
    rng = np.random.default_rng(seed)
    shapes = ((h, 3 * h), (h, h), (h, i), (i, h))
    return [
        tuple((rng.standard_normal(s) * 0.03).astype(np.float32) for s in shapes)
        for _ in range(CONFIG.num_hidden_layers)
    ]


def chain_flops(seq: int) -> float:
    h, i = CONFIG.hidden_size, CONFIG.intermediate_size
    return CONFIG.num_hidden_layers * 2 * seq * (3 * h * h + h * h + 2 * h * i)


def chain_fn(weights):
    """The dependent chain as a `tf.function` of x [S, H] (weights constant)."""
    hidden = CONFIG.hidden_size
    kernels = [tuple(tf.constant(w) for w in layer) for layer in weights]

    @tf.function(input_signature=[tf.TensorSpec([None, hidden], tf.float32)])
    def chain(x):
        for qkv, attention_output, intermediate, output in kernels:
            q = tf.matmul(x, qkv)  # [S, 3H]
            # tf.slice: TFLite's SLICE builtin (a plain slice may not convert).
            x = tf.matmul(tf.slice(q, [0, 0], [-1, hidden]), attention_output)  # [S, H]
            x = tf.matmul(tf.matmul(x, intermediate), output)  # [S, I] -> [S, H]
        return x

    return chain


def numpy_chain(weights):
    def chain(x):
        hidden = CONFIG.hidden_size
        for qkv, attention_output, intermediate, output in weights:
            x = ((x @ qkv)[:, :hidden] @ attention_output) @ intermediate @ output
        return x

    return chain


def litert_fn(chain, seq: int, threads: int):
    """The chain converted to TFLite, run in LiteRT on [S, H] inputs."""
    try:
        from ai_edge_litert import interpreter as litert
    except ImportError as e:
        return None, f"skipped: {e} (pip install ai-edge-litert)"
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [chain.get_concrete_function()], chain
    )
    interpreter = litert.Interpreter(model_content=converter.convert(), num_threads=threads)
    input_index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(input_index, [seq, CONFIG.hidden_size])
    interpreter.allocate_tensors()
    output_index = interpreter.get_output_details()[0]["index"]

    def run(x):
        interpreter.set_tensor(input_index, x)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)

    return run, None


def seconds_per_call(fn, x, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn(x)
    return (time.perf_counter() - start) / calls


def measure(sides: dict, x, rounds: int, calls: int) -> dict:
    """Median seconds per call of each side, the sides alternating by round."""
    for fn in sides.values():
        seconds_per_call(fn, x, 3)  # Warm-up: tracing, XNNPACK packing.
    times = {name: [] for name in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            times[name].append(seconds_per_call(fn, x, calls))
    return {name: float(np.median(t)) for name, t in times.items()}


def tf_sides(weights, x_np):
    chain = chain_fn(weights)
    x = tf.constant(x_np)
    return chain, {"tf": lambda _: chain(x).numpy()}


def encoder_side(seq: int):
    """The bert_tf encoder (float32, `tf.function`) on one unpadded row."""
    fn, names = encoder_bench.bert_tf_fn(CONFIG, "float32")
    encoder = tf.function(fn)
    ids = np.random.default_rng(2).integers(1000, CONFIG.vocab_size, (1, seq)).astype("int32")
    inputs = dict(
        zip(names, (tf.constant(ids), tf.ones((1, seq), tf.int32), tf.zeros((1, seq), tf.int32)))
    )
    return lambda _: encoder(inputs)[1].numpy()


def child_main(args) -> None:
    """One-thread TensorFlow: prints {"tf_one_thread_s": ...} on stdout."""
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    weights = chain_weights()
    x_np = np.random.default_rng(1).standard_normal((args.seq, CONFIG.hidden_size), np.float32)
    _, sides = tf_sides(weights, x_np)
    seconds = measure(sides, x_np, args.rounds, args.calls)["tf"]
    print(json.dumps({"tf_one_thread_s": seconds}))


def one_thread_seconds(args) -> tuple[float | None, str | None]:
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child_one_thread",
        f"--seq={args.seq}",
        f"--rounds={args.rounds}",
        f"--calls={args.calls}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        return None, f"child failed (rc {done.returncode}): {done.stderr[-500:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])["tf_one_thread_s"], None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq", type=int, default=110, help="rows S (pieces of the request)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20, help="calls per side per round")
    parser.add_argument("--child_one_thread", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.seq <= CONFIG.max_position_embeddings:
        parser.error(f"--seq={args.seq}: must be 1..{CONFIG.max_position_embeddings}")
    for name in ("rounds", "calls"):
        if getattr(args, name) < 1:
            parser.error(f"--{name}={getattr(args, name)}: must be at least 1")
    if args.child_one_thread:
        child_main(args)
        return

    machine = _common.machine()
    cores = machine.get("cores") or os.cpu_count() or 1
    log("TF float32 matmul peak ...")
    peak = encoder_bench.matmul_peak(3)
    log("TF one thread (child process) ...")
    one_thread_s, one_thread_note = one_thread_seconds(args)

    weights = chain_weights()
    x_np = np.random.default_rng(1).standard_normal((args.seq, CONFIG.hidden_size), np.float32)
    chain, sides = tf_sides(weights, x_np)
    sides["numpy"] = numpy_chain(weights)
    sides["tf_encoder"] = encoder_side(args.seq)
    log("LiteRT ...")
    litert, litert_note = litert_fn(chain, args.seq, cores)
    if litert is not None:
        sides["litert"] = litert
        gap = np.abs(litert(x_np) - sides["tf"](None)).max()
        log(f"LiteRT vs TF max abs difference: {gap:.2e}")
    log("measuring ...")
    seconds = measure(sides, x_np, args.rounds, args.calls)
    if one_thread_s is not None:
        seconds["tf_one_thread"] = one_thread_s

    flops = chain_flops(args.seq)
    encoder_flops = encoder_bench.flops_per_sequence(CONFIG, args.seq)
    gflops = {
        name: (encoder_flops if name == "tf_encoder" else flops) / s / 1e9
        for name, s in seconds.items()
    }
    result = {
        "benchmark": "gemm_batch1",
        "machine": machine,
        "shape": f"minilm chain, batch 1, S={args.seq}",
        "chain_gflop": round(flops / 1e9, 3),
        "encoder_gflop": round(encoder_flops / 1e9, 3),
        # The encoder's time beyond TF's dense products: attention products,
        # softmax, LayerNorm, GELU, reshapes.
        "encoder_beyond_chain_ms": round(1000 * (seconds["tf_encoder"] - seconds["tf"]), 3),
        "f32_matmul_peak_gflops": round(peak, 1),
        "ms": {name: round(1000 * s, 3) for name, s in seconds.items()},
        "gflops": {name: round(g, 1) for name, g in gflops.items()},
        "fraction_of_peak": {name: round(g / peak, 3) for name, g in gflops.items()},
    }
    if one_thread_s is not None:
        # 1.0: the cores together are `cores` times one core.
        result["tf_parallel_efficiency"] = round(
            gflops["tf"] / (cores * gflops["tf_one_thread"]), 3
        )
    else:
        result["tf_one_thread"] = one_thread_note
    if litert is not None:
        result["tf_over_litert"] = round(gflops["tf"] / gflops["litert"], 3)
    else:
        result["litert"] = litert_note
    _common.emit(result)


if __name__ == "__main__":
    main()
