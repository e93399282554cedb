"""Tokenize + pack throughput: bert_tf in the graph against its peers.

All use the same uncased vocabulary (all-MiniLM-L6-v2's), the same corpus
(the standard library's docstring lines) and pack to `--seq_length`, batch by
batch. Prints one JSON line with MB/s, tokens/s and bert_tf's ratios.

  python benchmarks/tokenize_pack.py [--batch_size=1024] [--seq_length=128]

(Not `tokenize.py`: a script's folder is first on `sys.path`, and a file of
that name would shadow the standard library module that `inspect` imports.)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras_hub
import tensorflow as tf
import tokenizers
from _common import best_time, emit, machine, minilm_vocab
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
flags.DEFINE_integer("repeats", 3, "Timed repeats (best is kept).")


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
    preprocessor = BertPreprocessor(tokenizer, seq_length=seq)
    ours = tf.function(preprocessor, input_signature=[tf.TensorSpec([None], tf.string)])
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
        "bert_tf_tokenize_only": lambda: [ours_bare(b) for b in batches],
        "keras_hub": lambda: [kh(b) for b in batches],
        "hf_tokenizers": lambda: [hf.encode_batch(b) for b in py_batches],
        "original_full_tokenizer": run_full,
    }
    results = {}
    for name, fn in timings.items():
        repeats = 1 if name == "original_full_tokenizer" else FLAGS.repeats
        seconds = best_time(fn, repeats)
        results[name] = {
            "seconds": round(seconds, 4),
            "mb_per_s": round(megabytes / seconds, 2),
            "tokens_per_s": round(num_tokens / seconds),
        }
    ratios = {
        f"bert_tf_over_{name}": round(results["bert_tf"]["mb_per_s"] / results[name]["mb_per_s"], 2)
        for name in ("keras_hub", "hf_tokenizers", "original_full_tokenizer")
    }
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
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    app.run(main)
