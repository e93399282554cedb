"""Fine-tuning evidence: the real all-MiniLM-L6-v2 on real data.

Figures (each a `--bench` name, `all` for every one):

- `wnut`: entity F1 (seqeval-equal) on WNUT-17 dev after fine-tuning on its
  train file (`../shared/data/wnut17`).
- `squad`: EM / F1 (official v2.0 rules) on the SQuAD 2.0 "Normans" slice
  (`../shared/data/squad/squad2_dev_normans.json`): fine-tuned on half of its
  paragraphs, evaluated on the other half. 208 questions: a format and
  decoding check, far too small for an accuracy claim.
- `quickstart`: held-out accuracy of the quickstart task (which package a
  standard-library docstring comes from), fine-tuned from MiniLM.
- `throughput`: fine-tuning examples/s of bert_tf (`BertClassifier.fit` on
  raw strings, preprocessing in tf.data) against keras-hub's
  `BertTextClassifier.fit` on the same strings, batch, sequence length,
  encoder shape (MiniLM's), optimizer and XLA setting, in one process.

The shared data lives beside the checkout in CI and on developers' machines,
not in users' clones: a missing file is reported and its figure skipped.

Usage:

  python benchmarks/finetune.py --bench=all --output_file=/tmp/ft.json
"""

import collections
import json
import os
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("bench", ["all"], "wnut, squad, quickstart, throughput, or all.")
flags.DEFINE_string(
    "data_dir", None, "The shared data (default: ../shared/data beside the checkout)."
)
flags.DEFINE_string("work_dir", "/tmp/bert_tf_finetune_bench", "Where fine-tuned models go.")
flags.DEFINE_string("output_file", None, "Also write the figures here.")
flags.DEFINE_integer("max_seq_length", 128, "Packed length (wnut, quickstart, throughput).")
flags.DEFINE_integer("batch_size", 32, "Training batch size.")
flags.DEFINE_float("num_train_epochs", 3.0, "Fine-tuning epochs (wnut).")
flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate.")
flags.DEFINE_integer("throughput_examples", 640, "Examples per timed epoch (throughput).")
flags.DEFINE_integer("throughput_rounds", 3, "Timed epochs per side, taken in turn (best kept).")
flags.DEFINE_boolean("jit_compile", True, "XLA for both sides of the throughput comparison.")


def data_path(*parts):
    return _common.shared_data(*parts, data_dir=FLAGS.data_dir)


def bench_wnut():
    from bert_tf.tasks import common, ner

    train_file = data_path("wnut17", "train.conll")
    dev_file = data_path("wnut17", "dev.conll")
    if not train_file or not dev_file:
        return None
    train, dev = ner.read_conll(train_file), ner.read_conll(dev_file)
    encoder, tokenizer, vocab = common.load_initial_model(
        "minilm", max_seq_length=FLAGS.max_seq_length
    )
    start = time.time()
    result = ner.finetune_ner(
        train,
        encoder,
        tokenizer,
        vocab,
        os.path.join(FLAGS.work_dir, "wnut"),
        eval_data=dev,
        max_seq_length=FLAGS.max_seq_length,
        train_batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        num_train_epochs=FLAGS.num_train_epochs,
        verbose=2,
    )
    figures = {k: result["eval"][k] for k in ("precision", "recall", "f1")}
    figures.update(
        best_epoch=result["best_epoch"],
        train_sentences=len(train.words),
        dev_sentences=len(dev.words),
        epochs=FLAGS.num_train_epochs,
        seconds=round(time.time() - start, 1),
    )
    return figures


def bench_squad():
    from bert_tf.tasks import common, squad

    path = data_path("squad", "squad2_dev_normans.json")
    if not path:
        return None
    examples, data = squad.read_squad(path)
    # Split by paragraph: contexts of even index train, odd ones evaluate.
    contexts = list(dict.fromkeys(e.context for e in examples))
    held = set(contexts[1::2])
    train = []
    for e in examples:
        if e.context in held:
            continue
        if e.answers and not e.is_impossible:  # One answer to train on.
            e = squad.SquadExample(e.qas_id, e.question, e.context, e.answers[:1])
        train.append(e)
    test = [e for e in examples if e.context in held]
    test_ids = {e.qas_id for e in test}
    test_data = [
        {
            "paragraphs": [
                {"context": p["context"], "qas": [q for q in p["qas"] if q["id"] in test_ids]}
                for a in data
                for p in a["paragraphs"]
                if p["context"] in held
            ]
        }
    ]
    encoder, tokenizer, vocab = common.load_initial_model("minilm", max_seq_length=256)
    options = squad.DecodeOptions(version_2_with_negative=True)
    start = time.time()
    result = squad.finetune_squad(
        train,
        encoder,
        tokenizer,
        vocab,
        os.path.join(FLAGS.work_dir, "squad"),
        eval_examples=test,
        eval_data=test_data,
        max_seq_length=256,
        doc_stride=128,
        max_query_length=64,
        options=options,
        train_batch_size=16,
        learning_rate=1e-4,
        num_train_epochs=4,
        verbose=2,
    )
    no_answer = squad.squad_metrics(
        test_data, {e.qas_id: "" for e in test}, version_2_with_negative=True
    )
    figures = dict(result["eval"])
    figures.update(
        train_questions=len(train),
        test_questions=len(test),
        best_epoch=result["best_epoch"],
        always_no_answer_exact=no_answer["exact"],
        seconds=round(time.time() - start, 1),
    )
    return figures


def bench_quickstart():
    from bert_tf.data import stdlib_corpus
    from bert_tf.recipes import quickstart, stdlib_task
    from bert_tf.tasks import classification, common

    packages, train, dev, test, _ = stdlib_task.make_task(stdlib_corpus.docstrings(), 6)
    encoder, tokenizer, vocab = common.load_initial_model(
        "minilm", max_seq_length=FLAGS.max_seq_length
    )

    def as_data(rows):
        return stdlib_task.classification_data(rows, "quickstart")

    model_dir = os.path.join(FLAGS.work_dir, "quickstart")
    start = time.time()
    result = classification.finetune_classifier(
        as_data(train),
        encoder,
        tokenizer,
        vocab,
        model_dir,
        eval_data=as_data(dev),
        labels=packages,
        max_seq_length=FLAGS.max_seq_length,
        train_batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        num_train_epochs=3,
        verbose=2,
    )
    metrics = classification.evaluate_classifier(model_dir, as_data(test))
    _, majority_accuracy = stdlib_task.majority_baseline(train, test)
    return {
        "test_accuracy": metrics["accuracy"],
        "test_macro_f1": metrics["macro_f1"],
        "majority_accuracy": majority_accuracy,
        "tfidf_logistic_accuracy": quickstart.tfidf_baseline(train, test, packages),
        "packages": packages,
        "train": len(train),
        "test": len(test),
        "best_epoch": result["best_epoch"],
        "seconds": round(time.time() - start, 1),
    }


def bench_throughput():
    import keras
    import keras_hub
    import numpy as np
    import tensorflow as tf

    from bert_tf.data import stdlib_corpus
    from bert_tf.heads import BertClassifier
    from bert_tf.recipes import stdlib_task
    from bert_tf.tasks import classification, common
    from bert_tf.text import BertPreprocessor

    seq, batch, n = FLAGS.max_seq_length, FLAGS.batch_size, FLAGS.throughput_examples
    n -= n % batch
    _, train, _, _, _ = stdlib_task.make_task(stdlib_corpus.docstrings(), 6)
    texts = [r["text"] for r in train][:n]
    index = {p: i for i, p in enumerate(sorted({r["label"] for r in train}))}
    labels = np.array([index[r["label"]] for r in train][:n], np.int32)
    encoder, tokenizer, vocab = common.load_initial_model("minilm", max_seq_length=seq)

    def optimizer():
        return keras.optimizers.AdamW(learning_rate=2e-5, weight_decay=0.01)

    def timed(model, dataset):
        """(examples per wall second, per CPU second) of one epoch."""
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(dataset, epochs=1, verbose=0)
        return (n / (time.perf_counter() - wall), n / (time.process_time() - cpu))

    # bert_tf: raw strings -> BertPreprocessor in tf.data -> BertClassifier.
    ours = BertClassifier(encoder, num_classes=6)
    ours.compile(
        optimizer=optimizer(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=FLAGS.jit_compile,
    )
    ds = classification.make_dataset(
        [(t,) for t in texts], labels, BertPreprocessor(tokenizer, seq), batch
    )

    # keras-hub: the same strings, its preprocessor applied by `Task.fit`.
    cfg = encoder.bert_config
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=cfg.vocab_size,
        num_layers=cfg.num_hidden_layers,
        num_heads=cfg.num_attention_heads,
        hidden_dim=cfg.hidden_size,
        intermediate_dim=cfg.intermediate_size,
        max_sequence_length=cfg.max_position_embeddings,
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True), sequence_length=seq
    )
    theirs = keras_hub.models.BertTextClassifier(backbone, num_classes=6, preprocessor=preprocessor)
    theirs.compile(
        optimizer=optimizer(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=FLAGS.jit_compile,
    )
    kh_ds = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(batch)
    ours.fit(ds, epochs=1, verbose=0)  # Compile / trace / warm up.
    theirs.fit(kh_ds, epochs=1, verbose=0)
    # Round-robin epochs: both sides see the same load on a shared machine.
    rounds = collections.defaultdict(list)
    for _ in range(FLAGS.throughput_rounds):
        rounds["bert_tf"].append(timed(ours, ds))
        rounds["keras_hub"].append(timed(theirs, kh_ds))
    best = {k: (max(w for w, _ in v), max(c for _, c in v)) for k, v in rounds.items()}
    return {
        "bert_tf_examples_per_s": best["bert_tf"][0],
        "keras_hub_examples_per_s": best["keras_hub"][0],
        "ratio": best["bert_tf"][0] / best["keras_hub"][0],
        "bert_tf_examples_per_cpu_s": best["bert_tf"][1],
        "keras_hub_examples_per_cpu_s": best["keras_hub"][1],
        "ratio_per_cpu_s": best["bert_tf"][1] / best["keras_hub"][1],
        "rounds": FLAGS.throughput_rounds,
        "batch_size": batch,
        "max_seq_length": seq,
        "examples": n,
        "jit_compile": FLAGS.jit_compile,
        "device": tf.config.list_physical_devices()[-1].device_type,
        "cpu_threads": os.cpu_count(),
    }


BENCHES = {
    "throughput": bench_throughput,
    "squad": bench_squad,
    "quickstart": bench_quickstart,
    "wnut": bench_wnut,
}


def main(argv):
    del argv
    names = list(BENCHES) if "all" in FLAGS.bench else FLAGS.bench
    results = {}
    for name in names:
        print(f"== {name}", flush=True)
        results[name] = BENCHES[name]()
        print(json.dumps({name: results[name]}, indent=2, default=str), flush=True)
    results["machine"] = _common.machine()
    if FLAGS.output_file:
        with open(FLAGS.output_file, "w") as f:
            json.dump(results, f, indent=2, default=str)
    sys.stdout.write(json.dumps(results, default=str) + "\n")


if __name__ == "__main__":
    app.run(main)
