"""Distillation: a small student from a fine-tuned teacher, on the user's text.

`distill` trains a student BERT (a preset such as BERT-Tiny, or any
`bert_config.json`) with `Model.fit` on raw strings against the teacher's
softened outputs plus the gold labels where the data has them
(`bert_tf.training.Distiller`). The teacher is a fine-tuned folder of
`bert_tf finetune`: a classifier or regressor (`classify`) or a token
classifier (`ner`). More unlabelled text (`unlabeled`) adds examples that
carry only the teacher's outputs.

- The student keeps the teacher's vocabulary, casing and packed length, so
  its ids are exactly the teacher's (the teacher's `vocab.txt` is copied).
- The teacher runs once per example, in inference mode, before training:
  its logits do not change between epochs, so they are computed once and
  travel with the examples through `tf.data`.
- The output is an ordinary fine-tuned folder (`model.keras`, `vocab.txt`,
  `task.json`, the teacher's task and labels), so `evaluate`, `predict` and
  `export` (SavedModel, every TFLite quantization) take it unchanged.

Example (a tiny teacher; real ones come from `bert_tf finetune`):

>>> import os, tempfile
>>> from bert_tf.encoder import BertEncoder
>>> from bert_tf.heads import BertClassifier
>>> from bert_tf.tasks import common
>>> from bert_tf.tasks.classification_data import ClassificationData
>>> d = tempfile.mkdtemp()
>>> vocab = os.path.join(d, "vocab.txt")
>>> words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film"]
>>> _ = open(vocab, "w").write("\\n".join(words) + "\\n")
>>> enc = BertEncoder(vocab_size=8, hidden_size=16, num_hidden_layers=2,
...                   num_attention_heads=2, intermediate_size=32,
...                   max_position_embeddings=16)
>>> info = {"task": "classify", "regression": False, "labels": ["neg", "pos"],
...         "text_columns": ["text"], "max_seq_length": 8, "do_lower_case": True}
>>> _ = common.save_task(os.path.join(d, "teacher"), BertClassifier(enc, 2), vocab, info)
>>> student = os.path.join(d, "student.json")
>>> _ = open(student, "w").write('{"hidden_size": 8, "num_hidden_layers": 1, '
...     '"num_attention_heads": 1, "intermediate_size": 16, "max_position_embeddings": 16}')
>>> train = ClassificationData([("good film",), ("bad film",)], ["pos", "neg"], [2, 3], "t.csv")
>>> result = distill(os.path.join(d, "teacher"), train, os.path.join(d, "student"),
...                  student=student, num_train_epochs=1, verbose=0)
>>> result["parameters"]["student"] < result["parameters"]["teacher"]
True
>>> common.load_task_info(os.path.join(d, "student"))["labels"]
['neg', 'pos']
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.encoder import INPUT_NAMES, BertEncoder
from bert_tf.heads import BertClassifier, BertRegressor, BertTokenClassifier
from bert_tf.tasks import classification, common, ner
from bert_tf.tasks import student as student_lib
from bert_tf.tasks.classification_data import ClassificationData, encode_labels
from bert_tf.text.preprocessor import BertPreprocessor
from bert_tf.training.distiller import Distiller

__all__ = [
    "DISTILL_SETTINGS",
    "TEACHER_TASKS",
    "distill",
    "load_teacher",
    "load_teacher_info",
    "read_unlabeled",
    "teacher_outputs",
]

# Distillation's defaults: a small student learns best with a larger learning
# rate and more epochs than fine-tuning a pre-trained model uses.
DISTILL_SETTINGS = common.FinetuneSettings(learning_rate=1e-3, num_train_epochs=10.0)

# The fine-tuned folders a student can learn from (`task` in task.json).
TEACHER_TASKS = ("classify", "ner")


def load_teacher_info(teacher_dir: str) -> dict:
    """The teacher's `task.json`; one clear error if the folder cannot teach.

    Raises:
        FileNotFoundError: no such folder, or no `task.json`.
        ValueError: a task other than a classifier or token classifier.
    """
    info = common.load_task_info(teacher_dir)
    if info["task"] not in TEACHER_TASKS:
        raise ValueError(
            f"{teacher_dir}: the teacher is a {info['task']!r} model; distill takes a "
            "fine-tuned classifier ('classify') or token classifier ('ner') folder"
        )
    return info


def load_teacher(teacher_dir: str) -> common.TaskFiles:
    """The teacher's folder, loaded (see `load_teacher_info` for the errors)."""
    load_teacher_info(teacher_dir)
    return common.load_task(teacher_dir)


def read_unlabeled(
    path: str,
    task: str,
    text_columns: Sequence[str] = ("text",),
    file_format: str | None = None,
) -> ClassificationData | ner.NerData:
    """More raw text for the teacher to label: the examples carry no gold.

    A `.txt` file holds one example a line (a classifier's single text, or a
    sentence of space-separated words for a token classifier). Any other file
    is read as the task's own format, labels ignored: CSV/TSV/JSON lines with
    `text_columns` for `classify`, CoNLL for `ner`.

    Raises:
        FileNotFoundError: naming the file.
        ValueError: an empty file, or text pairs asked of a `.txt` file.
    """
    common.check_file(path, "unlabelled file")
    if path.endswith(".txt"):
        with open(path, encoding="utf-8") as f:
            try:
                rows = [(n, line.strip()) for n, line in enumerate(f, start=1) if line.strip()]
            except UnicodeDecodeError as e:
                raise ValueError(f"{path}: not UTF-8 text ({e})") from None
        if not rows:
            raise ValueError(f"{path}: the unlabelled file has no text (every line is blank)")
        lines = [n for n, _ in rows]
        if task == "ner":
            words = [text.split() for _, text in rows]
            return ner.NerData(words, None, [[n] * len(w) for n, w in zip(lines, words)], path)
        if len(text_columns) != 1:
            raise ValueError(
                f"{path}: one example a line cannot hold the teacher's text pairs "
                f"({', '.join(text_columns)}); give a CSV, TSV or JSON lines file"
            )
        return ClassificationData([(text,) for _, text in rows], None, lines, path)
    if task == "ner":
        data = ner.read_conll(path, require_tags=False)
        return ner.NerData(data.words, None, data.lines, path)
    data = classification.read_classification_file(
        path, text_columns, None, file_format=file_format, require_labels=False
    )
    if not data.texts:
        raise ValueError(f"{path}: the unlabelled file has no examples")
    return data


def _classifier_inputs(teacher: common.TaskFiles, texts: Sequence[tuple], batch_size: int):
    preprocessor = BertPreprocessor(teacher.tokenizer, seq_length=teacher.info["max_seq_length"])
    return classification.make_dataset(texts, None, preprocessor, batch_size)


def _ner_inputs(teacher: common.TaskFiles, words: Sequence[Sequence[str]], batch_size: int):
    ds = ner.make_dataset(
        teacher.tokenizer, words, None, teacher.info["max_seq_length"], batch_size
    )
    return ds.map(lambda f: {k: f[k] for k in INPUT_NAMES})


def teacher_outputs(teacher: common.TaskFiles, data, batch_size: int = 64) -> np.ndarray:
    """The teacher's logits: [N, C] for a classifier, [N, S, C] for NER."""
    if teacher.info["task"] == "ner":
        ds = _ner_inputs(teacher, data.words, batch_size)
    else:
        ds = _classifier_inputs(teacher, data.texts, batch_size)
    return np.asarray(teacher.model.predict(ds, verbose=0), np.float32)


def _metrics(model: keras.Model, teacher: common.TaskFiles, data, batch_size: int) -> dict:
    """The task's validation metrics of `model` on labelled `data`."""
    info = teacher.info
    if info["task"] == "ner":
        metrics, _ = ner.score_model(
            model, teacher.tokenizer, data, info["labels"], info["max_seq_length"], batch_size
        )
        return {k: v for k, v in metrics.items() if k != "types"}
    if info["regression"]:
        gold = np.asarray(data.labels, np.float32)
    else:
        gold = encode_labels(data, info["labels"])
    inputs = _classifier_inputs(teacher, data.texts, batch_size)
    return classification.score_model(model, inputs, gold, info["regression"])


def _metric_name(info: dict) -> str:
    if info["task"] == "ner":
        return "f1"
    return "pearson" if info["regression"] else "macro_f1"


def _gold(teacher: common.TaskFiles, data) -> tuple[Any, np.ndarray]:
    """Gold label ids (or values) of `data`, and where they exist; unseen ones raise."""
    info = teacher.info
    if info["task"] == "ner":
        if data.tags is None:
            return [[0] * len(w) for w in data.words], np.zeros(len(data.words), np.float32)
        return ner.encode_tags(data, info["labels"]), np.ones(len(data.words), np.float32)
    n = len(data.texts)
    if data.labels is None:
        dtype = np.float32 if info["regression"] else np.int32
        return np.zeros(n, dtype), np.zeros(n, np.float32)
    if info["regression"]:
        return np.asarray(data.labels, np.float32), np.ones(n, np.float32)
    return encode_labels(data, info["labels"]), np.ones(n, np.float32)


def _classifier_train_set(teacher, parts, logits, batch_size, seed):
    texts = [t for data, _, _ in parts for t in data.texts]
    width = {len(t) for t in texts}
    if len(width) != 1:
        raise ValueError(
            "the training and unlabelled files hold different numbers of text columns "
            f"({sorted(width)}): the teacher reads {teacher.info['text_columns']}"
        )
    columns = tuple(tf.constant([t[i] for t in texts], tf.string) for i in range(width.pop()))
    y = {
        "teacher_logits": logits,
        "soft_weights": np.ones(len(texts), np.float32),
        "labels": np.concatenate([np.asarray(gold) for _, gold, _ in parts]),
        "label_weights": np.concatenate([has for _, _, has in parts]),
    }
    x = columns[0] if len(columns) == 1 else columns
    preprocessor = BertPreprocessor(teacher.tokenizer, seq_length=teacher.info["max_seq_length"])
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    return classification.make_dataset(ds, None, preprocessor, batch_size, shuffle=True, seed=seed)


def _ner_train_set(teacher, parts, logits, batch_size, seed):
    words = [w for data, _, _ in parts for w in data.words]
    tag_ids = [t for _, gold, _ in parts for t in gold]
    has_label = np.concatenate([has for _, _, has in parts])
    seq_length = teacher.info["max_seq_length"]
    tokenizer = teacher.tokenizer

    def features(sentence, tags, teacher_logits, has):
        f = ner.align_words(tokenizer, sentence, tags, seq_length)
        labelled = tf.cast(f["labels"] != ner.IGNORE, tf.float32)  # [S]
        targets = {
            "teacher_logits": teacher_logits,  # [S, C]
            "soft_weights": tf.cast(f["input_mask"], tf.float32),  # every real piece
            "labels": tf.maximum(f["labels"], 0),
            "label_weights": labelled * has,  # first pieces of gold-tagged words
        }
        return {k: f[k] for k in INPUT_NAMES}, targets

    ds = tf.data.Dataset.from_tensor_slices(
        (
            tf.ragged.constant(words, dtype=tf.string),
            tf.ragged.constant(tag_ids, dtype=tf.int32),
            logits,
            has_label,
        )
    )
    ds = ds.map(features, num_parallel_calls=tf.data.AUTOTUNE).cache()
    ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _student_head(teacher: common.TaskFiles, encoder: BertEncoder, dropout: float):
    info, model = teacher.info, teacher.model
    if info["task"] == "ner":
        return BertTokenClassifier(encoder, num_classes=len(info["labels"]), dropout=dropout)
    if info["regression"]:
        return BertRegressor(encoder, num_outputs=model.output_shape[-1], dropout=dropout)
    return BertClassifier(encoder, num_classes=len(info["labels"]), dropout=dropout)


def distill(
    teacher_dir: str,
    train: ClassificationData | ner.NerData,
    output_dir: str,
    unlabeled: ClassificationData | ner.NerData | None = None,
    eval_data: ClassificationData | ner.NerData | None = None,
    student: str = student_lib.DEFAULT_STUDENT,
    student_init: str = "embeddings",
    temperature: float = 2.0,
    label_weight: float = 0.5,
    settings: common.FinetuneSettings | None = None,
    verbose: int | str = "auto",
    **overrides: Any,
) -> dict:
    """Distils a fine-tuned teacher folder into a smaller student folder.

    Args:
        teacher_dir: a fine-tuned `classify` or `ner` folder.
        train: labelled examples (`ClassificationData` or `NerData`, the
            teacher's task); their labels must be ones the teacher knows.
        output_dir: where the student's folder is written (not the teacher's).
        unlabeled: more examples without labels (`read_unlabeled`), or None.
        eval_data: labelled validation examples: the best epoch is kept, and
            teacher and student are both scored on them.
        student: a preset name or a `bert_config.json`; its vocabulary size
            is the teacher's. It must have fewer parameters than the teacher.
        student_init: "random", "embeddings" or "layers" (see
            `bert_tf.tasks.student`).
        temperature, label_weight: see `bert_tf.training.Distiller`.
        settings: the `FinetuneSettings` (default: `DISTILL_SETTINGS`: a
            small student learns best with a larger learning rate and more
            epochs than fine-tuning uses). Its `max_seq_length` is unused
            (the student packs as the teacher does), and so is `jit_compile`.
        verbose: `Model.fit` verbosity.
        **overrides: `FinetuneSettings` fields (but `max_seq_length` and
            `jit_compile`) replacing those of `settings`.

    Returns:
        A dict: `output_dir`, `best_epoch`, `eval` (the student's metrics),
        `teacher_eval`, `parameters` (`teacher`, `student`), `examples`
        (`labelled`, `unlabeled`), `seconds` (`teacher_logits`, `training`)
        and `history`.

    Raises:
        FileNotFoundError, ValueError: a teacher folder that cannot teach, a
            student no smaller than the teacher, labels the teacher never
            saw, `output_dir` equal to `teacher_dir`.
    """
    s = common.finetune_settings(
        "distill", settings, overrides, DISTILL_SETTINGS, unused=("max_seq_length", "jit_compile")
    )
    if os.path.abspath(output_dir) == os.path.abspath(teacher_dir):
        raise ValueError(f"--output_dir is the teacher's folder {teacher_dir!r}: pick another")
    keras.utils.set_random_seed(s.seed)
    teacher = load_teacher(teacher_dir)
    info = teacher.info
    t_enc = teacher.model.encoder
    config = student_lib.student_config(student, t_enc.vocab_size, info["max_seq_length"])
    s_enc = BertEncoder.from_bert_config(config)
    sizes = {
        "teacher": student_lib.count_parameters(t_enc),
        "student": student_lib.count_parameters(s_enc),
    }
    if sizes["student"] >= sizes["teacher"]:
        raise ValueError(
            f"student {student!r} has {sizes['student']:,} parameters, not fewer than "
            f"the teacher's {sizes['teacher']:,} ({teacher_dir})"
        )
    if (train.tags if info["task"] == "ner" else train.labels) is None:
        raise ValueError(f"{train.source}: no labels to train on")
    parts = [(train, *_gold(teacher, train))]  # Unseen labels raise here.
    if unlabeled is not None:
        parts.append((unlabeled, *_gold(teacher, unlabeled)))
    if eval_data is not None:
        _gold(teacher, eval_data)
    # The student and its loss before the teacher's (long) pass: a bad
    # --student_init, temperature or label weight fails at once.
    model = _student_head(teacher, s_enc, s.dropout)
    student_lib.init_from_teacher(model, teacher.model, student_init)
    distiller = Distiller(
        model, temperature, label_weight, regression=bool(info.get("regression", False))
    )
    start = time.perf_counter()
    logits = np.concatenate(
        [teacher_outputs(teacher, data, s.eval_batch_size) for data, _, _ in parts]
    )
    seconds = {"teacher_logits": time.perf_counter() - start}
    logging.info("teacher logits of %d examples in %.1f s", len(logits), seconds["teacher_logits"])
    make_set = _ner_train_set if info["task"] == "ner" else _classifier_train_set
    train_ds = make_set(teacher, parts, logits, s.train_batch_size, s.seed)
    distiller.compile(optimizer=common.optimizer_for(s, len(logits)))
    callbacks = []
    os.makedirs(output_dir, exist_ok=True)
    teacher_eval = None
    if eval_data is not None:
        teacher_eval = _metrics(teacher.model, teacher, eval_data, s.eval_batch_size)
        callbacks.append(
            common.BestCheckpoint(
                lambda m: _metrics(m.student, teacher, eval_data, s.eval_batch_size),
                _metric_name(info),
                os.path.join(output_dir, "best.weights.h5"),
            )
        )
    start = time.perf_counter()
    history = distiller.fit(
        train_ds,
        epochs=max(1, int(np.ceil(s.num_train_epochs))),
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,
    )
    seconds["training"] = time.perf_counter() - start
    examples = {"labelled": len(parts[0][2]), "unlabeled": len(logits) - len(parts[0][2])}
    student_info = {k: v for k, v in info.items() if k != "eval"}
    student_info["distillation"] = {
        "teacher": os.path.basename(os.path.normpath(teacher_dir)),
        "student": os.path.basename(student),
        "student_init": student_init,
        "temperature": float(temperature),
        "label_weight": float(label_weight),
        "parameters": sizes,
        "examples": examples,
    }
    result = {
        "output_dir": output_dir,
        "history": history.history,
        "best_epoch": None,
        "eval": None,
        "teacher_eval": teacher_eval,
        "parameters": sizes,
        "examples": examples,
        "seconds": seconds,
    }
    if callbacks:
        result["best_epoch"] = callbacks[0].best_epoch + 1
        result["eval"] = callbacks[0].best_metrics
        student_info["eval"] = result["eval"]
        student_info["distillation"]["teacher_eval"] = teacher_eval
    common.save_task(output_dir, model, os.path.join(teacher_dir, common.VOCAB_FILE), student_info)
    logging.info("student (%s parameters) written to %s", f"{sizes['student']:,}", output_dir)
    return result
