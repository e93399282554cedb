"""Accelerator benchmark: BERT-Base pre-training and fine-tuning, mixed_bfloat16.

Two training jobs at sequence length 128, on synthetic batches (random ids,
some padding; the FLOPs and memory traffic do not depend on the values),
with `Model.fit` and the `mixed_bfloat16` policy:

* `pretrain`: `BertPretrainer` (masked LM over 20 positions per sequence +
  next-sentence prediction), BERT's AdamW (`create_optimizer`);
* `finetune`: `BertClassifier` (2 classes), the same optimizer.

Each is timed with and without XLA (`jit_compile`) and reports both, and
the faster as `best`. Sequences/s come from the difference of two timed
`fit` calls (`--steps` and 2 x `--steps` steps, after a warm-up fit that
compiles), so `fit`'s fixed start-up cost cancels. MFU = model FLOPs/s /
the device's dense bf16 peak, from a table by device name (H100 / H200
989 TFLOP/s, A100 312, ...); model FLOPs = 3 x the forward pass's matmul
FLOPs (forward + backward), 2 per multiply-add, attention included, as
`benchmarks/encoder.py` counts them. On a device missing from the table
(or a CPU) MFU is null and the line says why.

Prints progress to stderr and ONE JSON line to stdout. Meant to finish in
under 5 minutes on an H100 / H200 with the defaults: a run that would start
after `--budget_s` seconds is skipped and listed under `skipped`. `--smoke`
runs a tiny config for 2 steps on any machine (about 4 minutes on a busy
2-core CPU, almost all of it tracing and XLA compiling): it checks the
script, not speed.

Usage:
    python benchmarks/gpu.py [--smoke] [--steps 20] [--pretrain_batch 256]
        [--finetune_batch 64] [--jit both|on|off]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

from bert_tf import hardware  # noqa: E402
from bert_tf.config import BertConfig  # noqa: E402
from bert_tf.encoder import BertEncoder  # noqa: E402
from bert_tf.heads import BertClassifier, BertPretrainer  # noqa: E402
from bert_tf.training import optimizer as optimizer_lib  # noqa: E402
from bert_tf.training import pretrain  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peak, TFLOP/s, by a substring of the
# device name (first match wins: more specific names first).
BF16_PEAK_TFLOPS = (
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("GH200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("L40S", 362.0),
    ("L4", 121.0),
)
MAX_PREDICTIONS = 20  # Masked positions per sequence (BERT's default at 128).


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def peak_tflops(device_name: str | None) -> float | None:
    if not device_name:
        return None
    for key, tflops in BF16_PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return tflops
    return None


def encoder_flops(cfg: BertConfig, seq: int) -> float:
    """Forward matmul FLOPs of the encoder for one sequence (with pooler)."""
    h, i = cfg.hidden_size, cfg.intermediate_size
    per_layer = seq * (8 * h * h + 4 * h * i) + 4 * seq * seq * h
    return cfg.num_hidden_layers * per_layer + 2 * h * h


def pretrain_flops(cfg: BertConfig, seq: int) -> float:
    """Training FLOPs per sequence: encoder + MLM head (transform and the
    vocabulary projection at the masked positions) + NSP, times 3."""
    h = cfg.hidden_size
    mlm = MAX_PREDICTIONS * (2 * h * h + 2 * h * cfg.vocab_size)
    return 3 * (encoder_flops(cfg, seq) + mlm + 2 * h * 2)


def finetune_flops(cfg: BertConfig, seq: int, classes: int = 2) -> float:
    return 3 * (encoder_flops(cfg, seq) + 2 * cfg.hidden_size * classes)


def synthetic_inputs(cfg: BertConfig, batch: int, seq: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    ids = rng.integers(cfg.vocab_size // 30, cfg.vocab_size, (batch, seq)).astype("int32")
    mask = np.ones((batch, seq), "int32")
    mask[batch // 2 :, seq * 7 // 8 :] = 0  # Some padding, as real batches.
    ids[mask == 0] = 0
    types = np.zeros((batch, seq), "int32")
    types[:, seq // 2 :] = 1
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


def pretrain_job(cfg, batch, seq, jit):
    x = synthetic_inputs(cfg, batch, seq)
    rng = np.random.default_rng(1)
    positions = np.sort(
        np.stack(
            [rng.choice(np.arange(1, seq * 7 // 8), MAX_PREDICTIONS, False) for _ in range(batch)]
        ),
        axis=1,
    ).astype("int32")
    x["masked_lm_positions"] = positions
    y = {
        "mlm_logits": np.take_along_axis(x["input_word_ids"], positions, 1),
        "nsp_logits": rng.integers(0, 2, (batch,)).astype("int32"),
    }
    model = BertPretrainer(BertEncoder.from_bert_config(cfg))
    pretrain.compile_pretrainer(model, adamw(), jit_compile=jit)
    return model, tf.data.Dataset.from_tensors((x, y)).repeat()


def finetune_job(cfg, batch, seq, jit):
    x = synthetic_inputs(cfg, batch, seq, seed=2)
    y = np.random.default_rng(3).integers(0, 2, (batch,)).astype("int32")
    model = BertClassifier(BertEncoder.from_bert_config(cfg), num_classes=2)
    model.compile(
        optimizer=adamw(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    return model, tf.data.Dataset.from_tensors((x, y)).repeat()


def adamw():
    return optimizer_lib.create_optimizer(1e-4, num_train_steps=10**6, num_warmup_steps=0)


def timed(make, cfg, batch, seq, jit, steps) -> dict:
    """Sequences/s of one job: warm-up fit, then fits of `steps` and `2 steps`."""
    keras.utils.set_random_seed(0)
    model, data = make(cfg, batch, seq, jit)
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # Builds and compiles.
    compile_s = time.perf_counter() - start
    seconds = []
    for n in (steps, 2 * steps):
        start = time.perf_counter()
        history = model.fit(data, steps_per_epoch=n, epochs=1, verbose=0)
        seconds.append(time.perf_counter() - start)
    step_s = max(seconds[1] - seconds[0], 1e-9) / steps
    if seconds[1] - seconds[0] <= 0.1 * seconds[0]:  # Too noisy: whole fits.
        step_s = seconds[1] / (2 * steps)
    loss = float(history.history["loss"][-1])
    return {
        "sequences_per_s": round(batch / step_s, 1),
        "step_ms": round(1000 * step_s, 2),
        "warmup_fit_s": round(compile_s, 1),
        "final_loss": round(loss, 3),
        "loss_finite": bool(np.isfinite(loss)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny config, a few steps")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--pretrain_batch", type=int, default=256)
    parser.add_argument("--finetune_batch", type=int, default=64)
    parser.add_argument("--jit", choices=("both", "on", "off"), default="both")
    parser.add_argument("--budget_s", type=float, default=210.0)
    args = parser.parse_args()
    if args.smoke:
        cfg = BertConfig(
            vocab_size=1000,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
        )
        args.steps, args.seq = 2, 32
        args.pretrain_batch, args.finetune_batch = 8, 8
    else:
        cfg = BertConfig()  # BERT-Base: 12 layers, 768 wide, 30522 pieces.
    gpus = hardware.gpu_names()
    device = gpus[0] if gpus else None
    peak = peak_tflops(device)
    jits = {"both": (True, False), "on": (True,), "off": (False,)}[args.jit]

    keras.config.set_dtype_policy("mixed_bfloat16")
    result = {
        "benchmark": "gpu",
        "machine": _common.machine(),
        "device": device or "cpu",
        "bf16_peak_tflops": peak,
        "smoke": args.smoke,
        "config": {
            "layers": cfg.num_hidden_layers,
            "hidden": cfg.hidden_size,
            "heads": cfg.num_attention_heads,
            "intermediate": cfg.intermediate_size,
            "vocab": cfg.vocab_size,
            "seq": args.seq,
            "dtype_policy": "mixed_bfloat16",
        },
        "steps": args.steps,
    }
    if peak is None:
        result["mfu_note"] = (
            f"no bf16 peak known for {device!r}: MFU left null"
            if device
            else "no GPU: MFU left null (CPU run)"
        )
    start = time.perf_counter()
    jobs = (
        ("pretrain", pretrain_job, pretrain_flops(cfg, args.seq), args.pretrain_batch),
        ("finetune", finetune_job, finetune_flops(cfg, args.seq), args.finetune_batch),
    )
    for name, make, flops, batch in jobs:
        runs = {}
        for jit in jits:
            key = "xla" if jit else "no_xla"
            if runs and time.perf_counter() - start > args.budget_s:
                result.setdefault("skipped", []).append(f"{name} {key}: over --budget_s")
                continue
            log(f"{name} {key} batch {batch} ...")
            runs[key] = timed(make, cfg, batch, args.seq, jit, args.steps)
            tflops = runs[key]["sequences_per_s"] * flops / 1e12
            runs[key]["model_tflops"] = round(tflops, 3)
            runs[key]["mfu"] = round(tflops / peak, 4) if peak else None
            log(f"  {runs[key]}")
        best = max(runs, key=lambda k: runs[k]["sequences_per_s"])
        result[name] = {
            "batch": batch,
            "train_gflop_per_sequence": round(flops / 1e9, 2),
            **runs,
            "best": best,
            "sequences_per_s": runs[best]["sequences_per_s"],
            "mfu": runs[best]["mfu"],
        }
        if len(runs) == 2:
            result[name]["xla_speedup"] = round(
                runs["xla"]["sequences_per_s"] / runs["no_xla"]["sequences_per_s"], 3
            )
    result["wall_s"] = round(time.perf_counter() - start, 1)
    _common.emit(result)


if __name__ == "__main__":
    main()
