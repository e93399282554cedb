"""Tokenize + pack throughput: bert_tf in the graph against its peers.

All use the same uncased vocabulary (all-MiniLM-L6-v2's), the same corpus
(the standard library's docstring lines, about 47 bytes each: the cost is per
string more than per byte) and pack to `--seq_length`, batch by batch, with
every core the machine has:

* `bert_tf`: `BertPreprocessor` in a `tf.function`, one batch per call (as
  the preprocessing SavedModel runs it: the batch in 2 shards that TF's
  executor runs at once); `bert_tf_one_shard` the same in one piece;
  `bert_tf_tf_data` maps the batches in parallel in a `tf.data` pipeline
  (`num_parallel_calls=AUTOTUNE`), as bert_tf's training input pipelines do;
* `keras_hub`: `BertTokenizer` + `MultiSegmentPacker`, the same two ways;
* `hf_tokenizers`: `BertWordPieceTokenizer.encode_batch` (Rust, parallel over
  the batch), padded to `--seq_length`;
* `original_full_tokenizer`: google-research/bert's Python `FullTokenizer`.

Ids are exact (tests/test_text_packer.py, tests/test_text_tokenizer.py).
Prints one JSON line with MB/s, tokens/s and bert_tf's ratios.

  python benchmarks/tokenize_pack.py [--batch_size=1024] [--seq_length=128]

(Not `tokenize.py`: a script's folder is first on `sys.path`, and a file of
that name would shadow the standard library module that `inspect` imports.)
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras_hub
import tensorflow as tf
import tokenizers
from _common import emit, machine, minilm_vocab
from absl import (
    app,
    flags,
)
from official.nlp.tools import tokenization

from bert_tf.data import stdlib_corpus
from bert_tf.text import BertPreprocessor, BertTokenizer, load_vocabulary

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 1024, "Strings per call.")
flags.DEFINE_integer("seq_length", 128, "Packed length.")
flags.DEFINE_integer("repeats", 5, "Timed repeats (best is kept).")


def main(argv):
    del argv
    lines = stdlib_corpus.lines()
    megabytes = sum(len(t.encode()) for t in lines) / 1e6
    vocab_path = minilm_vocab()
    vocab = load_vocabulary(vocab_path)
    batches = [
        tf.constant(lines[i : i + FLAGS.batch_size]) for i in range(0, len(lines), FLAGS.batch_size)
    ]
    py_batches = [lines[i : i + FLAGS.batch_size] for i in range(0, len(lines), FLAGS.batch_size)]
    seq = FLAGS.seq_length

    tokenizer = BertTokenizer(vocab, lower_case=True)
    num_tokens = int(sum(tokenizer(b).flat_values.shape[0] for b in batches))
    preprocessor = BertPreprocessor(tokenizer, seq_length=seq)  # One shard, for tf.data.
    ours = tf.function(
        BertPreprocessor(tokenizer, seq_length=seq, num_shards=2),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    ours_one_shard = tf.function(preprocessor, input_signature=[tf.TensorSpec([None], tf.string)])
    all_lines = tf.constant(lines)
    # Batch i of the text (the strings arrive batched, as from a reader).
    lines_ds = tf.data.Dataset.range(len(batches)).map(
        lambda i: all_lines[i * FLAGS.batch_size : (i + 1) * FLAGS.batch_size]
    )

    def pipeline(fn):
        """All batches through `fn`, mapped in parallel (every core)."""
        ds = lines_ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.prefetch(tf.data.AUTOTUNE)
        return lambda: [None for _ in ds]

    ours_bare = tf.function(
        lambda t: tokenizer(t).flat_values,
        input_signature=[tf.TensorSpec([None], tf.string)],
    )

    kh_tok = keras_hub.tokenizers.BertTokenizer(vocabulary=vocab, lowercase=True)
    kh_pack = keras_hub.layers.MultiSegmentPacker(seq, start_value=101, end_value=102, pad_value=0)
    kh = tf.function(
        lambda t: kh_pack(kh_tok(t)),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )

    hf = tokenizers.BertWordPieceTokenizer(vocab_path, lowercase=True)
    hf.enable_truncation(seq)
    hf.enable_padding(length=seq)

    full = tokenization.FullTokenizer(vocab_path, do_lower_case=True)

    def run_full():
        for batch in py_batches:
            for text in batch:
                ids = full.convert_tokens_to_ids(full.tokenize(text))[: seq - 2]
                _ = [101] + ids + [102] + [0] * (seq - 2 - len(ids))

    timings = {
        "bert_tf": lambda: [ours(b) for b in batches],
        "bert_tf_one_shard": lambda: [ours_one_shard(b) for b in batches],
        "bert_tf_tokenize_only": lambda: [ours_bare(b) for b in batches],
        "bert_tf_tf_data": pipeline(preprocessor),
        "keras_hub": lambda: [kh(b) for b in batches],
        "keras_hub_tf_data": pipeline(lambda t: kh_pack(kh_tok(t))),
        "hf_tokenizers": lambda: [hf.encode_batch(b) for b in py_batches],
        "original_full_tokenizer": run_full,
    }
    # Round-robin rounds (best kept): every side sees the same share of
    # whatever else runs on the machine.
    best = {}
    for name, fn in timings.items():
        if name != "original_full_tokenizer":
            fn()  # Warm-up: tracing, pipeline start.
    for _ in range(FLAGS.repeats):
        for name, fn in timings.items():
            if name == "original_full_tokenizer" and name in best:
                continue  # Seconds per pass; once is enough.
            start = time.perf_counter()
            fn()
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    results = {
        name: {
            "seconds": round(seconds, 4),
            "mb_per_s": round(megabytes / seconds, 2),
            "tokens_per_s": round(num_tokens / seconds),
        }
        for name, seconds in best.items()
    }
    ratios = {
        f"bert_tf_over_{name}": round(results["bert_tf"]["mb_per_s"] / results[name]["mb_per_s"], 2)
        for name in ("keras_hub", "hf_tokenizers", "original_full_tokenizer")
    }
    ratios["bert_tf_tf_data_over_keras_hub_tf_data"] = round(
        results["bert_tf_tf_data"]["mb_per_s"] / results["keras_hub_tf_data"]["mb_per_s"], 2
    )
    emit(
        {
            "benchmark": "tokenize+pack",
            "corpus_mb": round(megabytes, 3),
            "lines": len(lines),
            "tokens": num_tokens,
            "seq_length": seq,
            "batch_size": FLAGS.batch_size,
            "results": results,
            "ratios": ratios,
            "target_mb_per_s": 20,
            "target_met": max(results[k]["mb_per_s"] for k in ("bert_tf", "bert_tf_tf_data")) >= 20,
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    app.run(main)
