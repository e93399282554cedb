"""Pre-training benchmark: a small BERT from scratch on the stdlib docstrings.

1. Corpus: the running Python's standard-library docstrings
   (`bert_tf.data.stdlib_corpus`), one docstring per line (the "paragraphs"
   format: sentences are split in the graph), split by module into train
   (95%) and held-out (5%) files; a WordPiece vocabulary is learned from the
   train part (`bert_tf.text.learn_vocabulary`).
2. Pre-training with `bert_tf.training.pretrain.run_pretraining` (MLM + NSP,
   dynamic masking, AdamW, warm-up + linear decay): held-out MLM loss / MLM
   accuracy / NSP accuracy at every `--eval_every` steps.
3. Training throughput (examples/s) at equal settings on the same cached
   batches, alternating rounds to even out machine load: bert_tf
   `BertPretrainer` (MLM + NSP), bert_tf MLM-only, and keras-hub
   `BertMaskedLM` (MLM only, keras-hub has no NSP). Same layers, width,
   heads, intermediate size, vocabulary, sequence length, batch, masked
   positions, optimizer (AdamW), float32, tanh GELU (keras-hub's), no XLA
   (`jit_compile=False` for all three: Keras' default "auto" picks XLA).
4. Throughput of the in-graph data pipeline alone.

Prints progress to stderr and ONE JSON line to stdout. Nothing is
downloaded.

Usage:
    python benchmarks/pretrain.py [--steps 400] [--eval_every 50]
        [--layers 2] [--hidden 128] [--batch 16] [--seq 128] [--vocab 4000]
        [--timing_steps 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

from bert_tf.config import BertConfig  # noqa: E402
from bert_tf.data import pretraining as data_lib  # noqa: E402
from bert_tf.data import stdlib_corpus  # noqa: E402
from bert_tf.encoder import BertEncoder  # noqa: E402
from bert_tf.heads import BertPretrainer  # noqa: E402
from bert_tf.text import BertTokenizer, learn_vocabulary, save_vocabulary  # noqa: E402
from bert_tf.training import losses as losses_lib  # noqa: E402
from bert_tf.training import optimizer as optimizer_lib  # noqa: E402
from bert_tf.training import pretrain  # noqa: E402


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def write_corpus(folder: str):
    """Train / held-out files, one docstring per line, split by module."""
    train, held_out = [], []
    for doc in stdlib_corpus.docstrings():
        text = " ".join(doc.text.split())
        if len(text) < 80:
            continue
        bucket = zlib.crc32(doc.module.encode()) % 20
        (held_out if bucket == 0 else train).append(text)
    paths = []
    for name, lines in (("train.txt", train), ("held_out.txt", held_out)):
        path = os.path.join(folder, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        paths.append(path)
    return paths, len(train), len(held_out)


def timed_fit(model, data, steps):
    """Seconds of `steps` training steps (after a warm-up fit)."""
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--eval_every", type=int, default=50)
    parser.add_argument("--eval_steps", type=int, default=16)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--predictions", type=int, default=20)
    parser.add_argument("--vocab", type=int, default=4000)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--timing_steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = {
        "benchmark": "pretrain",
        "tf": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "cpus": os.cpu_count(),
        "machine": _common.machine(),
    }
    folder = tempfile.mkdtemp(prefix="bert_tf_pretrain_bench_")

    # -- corpus and vocabulary -------------------------------------------------
    t0 = time.perf_counter()
    (train_file, held_out_file), n_train, n_held = write_corpus(folder)
    with open(train_file, encoding="utf-8") as f:
        texts = f.read().splitlines()
    # Every third training docstring is plenty to learn a 4k vocabulary.
    vocab = learn_vocabulary(
        texts[::3], vocab_size=args.vocab, lower_case=True, num_unused_tokens=0
    )
    vocab_file = save_vocabulary(vocab, os.path.join(folder, "vocab.txt"))
    result.update(
        docs_train=n_train,
        docs_held_out=n_held,
        vocab_size=len(vocab),
        vocab_seconds=round(time.perf_counter() - t0, 1),
    )
    log(f"corpus {n_train}/{n_held} docs, vocab {len(vocab)} ({result['vocab_seconds']} s)")

    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=max(1, args.hidden // 64),
        intermediate_size=4 * args.hidden,
        max_position_embeddings=max(128, args.seq),
        hidden_act="gelu_new",
    )
    result["model"] = {
        "L": config.num_hidden_layers,
        "H": config.hidden_size,
        "A": config.num_attention_heads,
        "I": config.intermediate_size,
        "V": len(vocab),
        "S": args.seq,
        "batch": args.batch,
        "P": args.predictions,
        "hidden_act": "gelu_new",
    }

    # -- pre-training with held-out evaluation ---------------------------------
    t0 = time.perf_counter()
    model, fit = pretrain.run_pretraining(
        train_file,
        os.path.join(folder, "out"),
        vocab_file,
        config,
        input_format="paragraphs",
        max_seq_length=args.seq,
        max_predictions_per_seq=args.predictions,
        train_batch_size=args.batch,
        learning_rate=args.learning_rate,
        num_train_steps=args.steps,
        num_warmup_steps=max(1, args.steps // 10),
        save_checkpoints_steps=args.eval_every,
        eval_input_file=held_out_file,
        eval_steps=args.eval_steps,
        verbose=0,
        seed=1,
    )
    seconds = time.perf_counter() - t0
    history = fit.history.history
    curve = []
    for i in range(len(history["val_loss"])):
        curve.append(
            {
                "step": min((i + 1) * args.eval_every, args.steps),
                "train_mlm_loss": round(history["mlm_logits_loss"][i], 3),
                "held_out_mlm_loss": round(history["val_mlm_logits_loss"][i], 3),
                "held_out_mlm_accuracy": round(history["val_mlm_logits_accuracy"][i], 4),
                "held_out_nsp_accuracy": round(history["val_nsp_logits_accuracy"][i], 4),
                "learning_rate": float(f"{history['learning_rate'][i]:.3g}"),
            }
        )
        log(curve[-1])
    result["held_out"] = curve
    result["held_out_examples_per_eval"] = args.eval_steps * args.batch
    # Wall time of the whole run: building, tracing, evaluations,
    # checkpoints and export included.
    result["pretrain_wall_seconds"] = round(seconds, 1)

    # -- data pipeline alone ---------------------------------------------------
    tokenizer = BertTokenizer(vocab_file, lower_case=True)
    ds = data_lib.pretraining_dataset(
        train_file,
        tokenizer,
        args.batch,
        max_seq_length=args.seq,
        max_predictions_per_seq=args.predictions,
        input_format="paragraphs",
        seed=5,
    )
    it = iter(ds)
    for _ in range(3):
        next(it)
    t0 = time.perf_counter()
    n = 30
    for _ in range(n):
        next(it)
    result["pipeline_examples_per_second"] = round(n * args.batch / (time.perf_counter() - t0), 1)
    log("pipeline ex/s", result["pipeline_examples_per_second"])

    # -- training throughput at equal settings ---------------------------------
    batches = list(ds.take(8).as_numpy_iterator())
    cached = tf.data.Dataset.from_tensor_slices(
        {k: np.stack([b[k] for b in batches]) for k in batches[0]}
    ).cache()
    cached = cached.repeat()
    bert_data = cached.map(data_lib.to_model_inputs).prefetch(2)

    def hub_inputs(f):
        x = {
            "token_ids": f["input_word_ids"],
            "segment_ids": f["input_type_ids"],
            "padding_mask": f["input_mask"] > 0,
            "mask_positions": f["masked_lm_positions"],
        }
        return x, f["masked_lm_ids"], f["masked_lm_weights"]

    hub_data = cached.map(hub_inputs).prefetch(2)

    def adamw():
        return optimizer_lib.create_optimizer(1e-4, num_train_steps=10**6, num_warmup_steps=0)

    keras.utils.set_random_seed(3)
    full = BertPretrainer(BertEncoder.from_bert_config(config))
    pretrain.compile_pretrainer(full, adamw())
    mlm_only = BertPretrainer(BertEncoder.from_bert_config(config))
    mlm_only.compile(
        optimizer=adamw(),
        loss={"mlm_logits": losses_lib.MaskedSparseCategoricalCrossentropy()},
        metrics={"mlm_logits": [losses_lib.MaskedSparseCategoricalAccuracy()]},
        jit_compile=False,
    )
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocab),
        num_layers=args.layers,
        num_heads=config.num_attention_heads,
        hidden_dim=args.hidden,
        intermediate_dim=config.intermediate_size,
        max_sequence_length=config.max_position_embeddings,
    )
    hub = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    hub.compile(
        optimizer=adamw(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy()],
        jit_compile=False,
    )  # Keras' default "auto" would pick XLA
    contenders = {
        "bert_tf_mlm_nsp": (full, bert_data),
        "bert_tf_mlm_only": (mlm_only, bert_data),
        "keras_hub_mlm": (hub, hub_data),
    }
    params = {}
    for name, (m, data) in contenders.items():
        timed_fit(m, data, 3)  # trace and warm up
        params[name] = int(sum(np.prod(v.shape) for v in m.trainable_variables))
    times = {name: [] for name in contenders}
    for r in range(args.rounds):
        for name, (m, data) in contenders.items():
            times[name].append(timed_fit(m, data, args.timing_steps))
        log("round", r, {k: round(v[-1], 2) for k, v in times.items()})
    speed = {
        name: round(args.timing_steps * args.batch / statistics.median(t), 1)
        for name, t in times.items()
    }
    result["train_examples_per_second"] = speed
    result["trainable_parameters"] = params
    result["speedup_vs_keras_hub"] = {
        "mlm_nsp": round(speed["bert_tf_mlm_nsp"] / speed["keras_hub_mlm"], 3),
        "mlm_only": round(speed["bert_tf_mlm_only"] / speed["keras_hub_mlm"], 3),
    }
    result["timing"] = {
        "steps_per_round": args.timing_steps,
        "rounds": args.rounds,
        "statistic": "median",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
