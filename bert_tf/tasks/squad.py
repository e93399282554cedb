"""Extractive question answering on SQuAD v1.1 / v2.0 JSON.

Windowing follows the original BERT `run_squad.py`: the question is cut to
`max_query_length` word-pieces, the context is tokenized once (in the graph,
`BertTokenizer.tokenize_with_offsets`) and cut into windows of
`max_seq_length - len(question) - 3` pieces every `doc_stride` pieces, packed
as `[CLS] question [SEP] window [SEP]`. Answer character spans map to
word-pieces through the tokenizer's offsets (the first piece that ends after
the answer's start, the last piece that starts before its end); unanswerable
questions and answers outside a window point at `[CLS]` (position 0).

Decoding follows BERT / Model Garden's `squad_lib.postprocess_output`: the
`n_best_size` best starts x ends of every window, kept if both lie in the
window's context, the start has its maximum context in this window, the end
is not before the start and the span is at most `max_answer_length` pieces;
for v2.0 the null answer scores the minimum over windows of
`start[0] + end[0]` and wins when it beats the best span by more than
`null_score_diff_threshold`. The answer text is the context between the
start piece's first and the end piece's last character (no heuristic
re-alignment needed, thanks to the offsets).

EM / F1 follow the official evaluation scripts (v1.1 and v2.0).

Example:

>>> normalize_answer("The  Eiffel-Tower!")
'eiffeltower'
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.heads import BertSpanLabeler
from bert_tf.tasks import common
from bert_tf.tasks.squad_features import SquadExample, SquadFeatures, make_features
from bert_tf.tasks.squad_metrics import normalize_answer, squad_metrics
from bert_tf.text.tokenizer import BertTokenizer

__all__ = [
    "SQUAD_SETTINGS",
    "SquadExample",
    "SquadFeatures",
    "decode_answers",
    "evaluate_squad",
    "finetune_squad",
    "make_features",
    "normalize_answer",
    "predict_squad",
    "read_squad",
    "squad_metrics",
]

TASK_NAME = "squad"


def read_squad(path: str, version_2_with_negative: bool | None = None, is_training: bool = False):
    """Reads a SQuAD JSON file and checks every answer span.

    Args:
        path: the file (`{"data": [{"paragraphs": [{"context", "qas"}]}]}`).
        version_2_with_negative: allow unanswerable questions; None accepts
            them when the file marks any question `is_impossible`.
        is_training: every answerable question needs an answer.

    Returns:
        `(examples, data)`: the `SquadExample`s and the file's `data` list
        (for `squad_metrics`).

    Raises:
        FileNotFoundError: naming the file.
        ValueError: naming the file and the JSON path (and question id) of
            malformed JSON, a missing key, or an answer whose text does not
            match its context at `answer_start`.
    """
    common.check_file(path, "SQuAD file")
    with open(path, encoding="utf-8") as f:
        try:
            root = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{e.lineno}:{e.colno}: malformed JSON ({e.msg})") from None
    if not isinstance(root, dict) or not isinstance(root.get("data"), list):
        raise ValueError(f"{path}: expected a JSON object with a 'data' list")

    def need(obj, key, kind, where):
        if not isinstance(obj, dict) or key not in obj:
            raise ValueError(f"{path}: {where}: missing key {key!r}")
        if not isinstance(obj[key], kind):
            raise ValueError(
                f"{path}: {where}.{key}: expected "
                f"{getattr(kind, '__name__', kind)}, got "
                f"{obj[key]!r:.60}"
            )
        return obj[key]

    examples = []
    for a, article in enumerate(root["data"]):
        for p, paragraph in enumerate(need(article, "paragraphs", list, f"data[{a}]")):
            where_p = f"data[{a}].paragraphs[{p}]"
            context = need(paragraph, "context", str, where_p)
            for q, qa in enumerate(need(paragraph, "qas", list, where_p)):
                where = f"{where_p}.qas[{q}]"
                qas_id = str(need(qa, "id", (str, int), where))
                where = f"{where} (id {qas_id!r})"
                question = need(qa, "question", str, where)
                impossible = bool(qa.get("is_impossible", False))
                if impossible and version_2_with_negative is False:
                    raise ValueError(
                        f"{path}: {where}: is_impossible, but version_2_with_negative is False"
                    )
                answers = []
                for n, answer in enumerate(qa.get("answers", [])):
                    where_n = f"{where}.answers[{n}]"
                    text = need(answer, "text", str, where_n)
                    start = need(answer, "answer_start", int, where_n)
                    found = context[start : start + len(text)]
                    if start < 0 or found != text:
                        raise ValueError(
                            f"{path}: {where_n}: answer {text!r} does not "
                            f"match its context at answer_start={start} "
                            f"(the context has {found!r} there)"
                        )
                    answers.append({"text": text, "answer_start": start})
                if is_training and not impossible and not answers:
                    raise ValueError(f"{path}: {where}: no answers (and not is_impossible)")
                examples.append(SquadExample(qas_id, question, context, answers, impossible))
    if not examples:
        raise ValueError(f"{path}: no questions")
    return examples, root["data"]


def _softmax(scores):
    if not scores:
        return []
    top = max(scores)
    exp = [math.exp(x - top) for x in scores]
    total = sum(exp)
    return [x / total for x in exp]


def decode_answers(
    examples: Sequence[SquadExample],
    features: SquadFeatures,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best_size: int = 20,
    max_answer_length: int = 30,
    version_2_with_negative: bool = False,
    null_score_diff_threshold: float = 0.0,
):
    """Turns start / end logits of every window into answers.

    Args:
        examples: the questions.
        features: their windows (`make_features`).
        start_logits, end_logits: [F, S] model outputs.
        n_best_size: starts and ends considered per window, and answers kept.
        max_answer_length: longest answer, in word-pieces.
        version_2_with_negative: allow the empty answer.
        null_score_diff_threshold: predict "" when the null score minus the
            best span's score is above this.

    Returns:
        `(predictions, nbest, null_odds)`: `{qas_id: text}`, `{qas_id:
        [{"text", "probability", "start_logit", "end_logit"}]}` and, for v2,
        `{qas_id: null score - best span score}`.
    """
    start_logits = np.asarray(start_logits, np.float64)
    end_logits = np.asarray(end_logits, np.float64)
    by_example = collections.defaultdict(list)
    for f, e in enumerate(features.example_index):
        by_example[int(e)].append(f)
    predictions, all_nbest, null_odds = {}, {}, {}
    for index, example in enumerate(examples):
        prelim = []  # (score, start logit, end logit, feature, start, end)
        score_null, null_start, null_end = 1e6, 0.0, 0.0
        for f in by_example[index]:
            s, e = start_logits[f], end_logits[f]
            if version_2_with_negative and s[0] + e[0] < score_null:
                score_null, null_start, null_end = s[0] + e[0], s[0], e[0]
            # Stable, as `sorted(..., reverse=True)` in squad_lib.
            best_starts = np.argsort(-s, kind="stable")[:n_best_size]
            best_ends = np.argsort(-e, kind="stable")[:n_best_size]
            in_context = features.char_starts[f] >= 0
            for i in best_starts:
                if not in_context[i] or not features.max_context[f, i]:
                    continue
                for j in best_ends:
                    if not in_context[j] or j < i or j - i + 1 > max_answer_length:
                        continue
                    prelim.append((s[i] + e[j], s[i], e[j], f, i, j))
        if version_2_with_negative:
            prelim.append((null_start + null_end, null_start, null_end, -1, 0, 0))
        prelim.sort(key=lambda x: x[0], reverse=True)
        nbest, seen = [], set()
        for _, s_logit, e_logit, f, i, j in prelim:
            if len(nbest) >= n_best_size:
                break
            if f >= 0:
                text = example.context[features.char_starts[f, i] : features.char_ends[f, j]]
                if text in seen:
                    continue
            else:
                text = ""
            seen.add(text)
            nbest.append((text, float(s_logit), float(e_logit)))
        if version_2_with_negative and "" not in seen:
            nbest.append(("", float(null_start), float(null_end)))
        if not nbest:
            nbest.append(("empty", 0.0, 0.0))
        probs = _softmax([s + e for _, s, e in nbest])
        all_nbest[example.qas_id] = [
            {"text": t, "probability": p, "start_logit": s, "end_logit": e}
            for (t, s, e), p in zip(nbest, probs)
        ]
        if not version_2_with_negative:
            predictions[example.qas_id] = nbest[0][0]
            continue
        non_null = next((x for x in nbest if x[0]), None)
        if non_null is None:
            null_odds[example.qas_id] = float(score_null)
            predictions[example.qas_id] = ""
        else:
            diff = float(score_null - non_null[1] - non_null[2])
            null_odds[example.qas_id] = diff
            predictions[example.qas_id] = "" if diff > null_score_diff_threshold else non_null[0]
    return predictions, all_nbest, null_odds


def _dataset(
    features: SquadFeatures, batch_size: int, training: bool, seed: int | None = None
) -> tf.data.Dataset:
    x = features.inputs()
    if training:
        y = {"start_logits": features.start_positions, "end_logits": features.end_positions}
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(
            10_000, seed=seed, reshuffle_each_iteration=True
        )
    else:
        ds = tf.data.Dataset.from_tensor_slices(x)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def predict_logits(model: keras.Model, features: SquadFeatures, batch_size: int = 64):
    """`(start_logits, end_logits)`, each [F, S] numpy."""
    out = model.predict(_dataset(features, batch_size, False), verbose=0)
    return np.asarray(out["start_logits"]), np.asarray(out["end_logits"])


@dataclasses.dataclass
class DecodeOptions:
    """Decoding settings (the original flags' names)."""

    n_best_size: int = 20
    max_answer_length: int = 30
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0


# BERT's SQuAD recipe: longer windows, fewer epochs than classification.
SQUAD_SETTINGS = common.FinetuneSettings(max_seq_length=384, num_train_epochs=2.0)


def _evaluate(model, examples, features, data, options: DecodeOptions, batch_size):
    start, end = predict_logits(model, features, batch_size)
    predictions, nbest, null_odds = decode_answers(
        examples, features, start, end, **dataclasses.asdict(options)
    )
    return (
        squad_metrics(data, predictions, options.version_2_with_negative),
        predictions,
        nbest,
        null_odds,
    )


def finetune_squad(
    train_examples: Sequence[SquadExample],
    encoder,
    tokenizer: BertTokenizer,
    vocab_file: str,
    output_dir: str,
    eval_examples: Sequence[SquadExample] | None = None,
    eval_data: list | None = None,
    doc_stride: int = 128,
    max_query_length: int = 64,
    options: DecodeOptions | None = None,
    settings: common.FinetuneSettings | None = None,
    verbose: int | str = "auto",
    **overrides: Any,
) -> dict:
    """Fine-tunes a `BertSpanLabeler` with `Model.fit`; keeps the best F1.

    Args:
        train_examples: from `read_squad(..., is_training=True)`.
        encoder, tokenizer, vocab_file: the model to start from.
        output_dir: where the model folder is written.
        eval_examples, eval_data: validation questions and the file's `data`
            list (for the official metrics).
        doc_stride, max_query_length: the original BERT windowing flags.
        options: decoding settings (also saved in `task.json`).
        settings: the `FinetuneSettings` (default: `SQUAD_SETTINGS`, BERT's
            SQuAD recipe: 384 pieces, 2 epochs); its `dropout` is unused
            (the span labeler has no dropout layer).
        verbose: `Model.fit` verbosity.
        **overrides: `FinetuneSettings` fields (but `dropout`) replacing those
            of `settings`.

    Returns:
        A dict: `output_dir`, `best_epoch`, `eval`, `history`.
    """
    s = common.finetune_settings(
        "finetune_squad", settings, overrides, SQUAD_SETTINGS, unused=("dropout",)
    )
    options = options or DecodeOptions()
    keras.utils.set_random_seed(s.seed)
    window = dict(
        max_seq_length=s.max_seq_length, doc_stride=doc_stride, max_query_length=max_query_length
    )
    train = make_features(train_examples, tokenizer, is_training=True, **window)
    logging.info("%d training questions -> %d windows", len(train_examples), len(train))
    model = BertSpanLabeler(encoder)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(
        optimizer=common.optimizer_for(s, len(train)),
        loss={"start_logits": loss, "end_logits": loss},
        loss_weights={"start_logits": 0.5, "end_logits": 0.5},
        jit_compile=bool(s.jit_compile),
    )
    best = None
    if eval_examples is not None:
        if eval_data is None:
            raise ValueError(
                "eval_examples need eval_data (the file's 'data' list) for the official metrics"
            )
        eval_features = make_features(eval_examples, tokenizer, **window)
        best = common.best_checkpoint(
            output_dir,
            lambda m: _evaluate(
                m, eval_examples, eval_features, eval_data, options, s.eval_batch_size
            )[0],
            "f1",
        )
    info = {
        "task": TASK_NAME,
        "do_lower_case": bool(tokenizer.lower_case),
        **window,
        **dataclasses.asdict(options),
    }
    train_ds = _dataset(train, s.train_batch_size, True, s.seed)
    return common.fit_and_save(
        model, train_ds, s.num_train_epochs, output_dir, vocab_file, info, verbose, best
    )


def _options(info: dict, **overrides) -> DecodeOptions:
    fields = {f.name for f in dataclasses.fields(DecodeOptions)}
    values = {k: info[k] for k in fields if k in info}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return DecodeOptions(**values)


def _load_with_features(model_dir: str, path: str, overrides: dict):
    """A saved model folder, its decode options, and a SQuAD file's windows."""
    task = common.load_task(model_dir, TASK_NAME)
    options = _options(task.info, **overrides)
    examples, data = read_squad(path, options.version_2_with_negative or None)
    features = make_features(
        examples,
        task.tokenizer,
        task.info["max_seq_length"],
        task.info["doc_stride"],
        task.info["max_query_length"],
    )
    return task, options, examples, features, data


def evaluate_squad(model_dir: str, path: str, batch_size: int = 64, **overrides) -> dict:
    """EM / F1 of a fine-tuned model folder on a SQuAD file.

    `overrides` replace `DecodeOptions` fields saved with the model.
    """
    task, options, examples, features, data = _load_with_features(model_dir, path, overrides)
    return _evaluate(task.model, examples, features, data, options, batch_size)[0]


def predict_squad(
    model_dir: str, path: str, output_file: str | None = None, batch_size: int = 64, **overrides
) -> list:
    """Answers to every question of a SQuAD file, optionally to JSON lines.

    Each record: `id`, `question`, `answer`, `nbest` (top 5) and, for v2.0,
    `null_score_diff`.
    """
    task, options, examples, features, _ = _load_with_features(model_dir, path, overrides)
    start, end = predict_logits(task.model, features, batch_size)
    predictions, nbest, null_odds = decode_answers(
        examples, features, start, end, **dataclasses.asdict(options)
    )
    records = []
    for e in examples:
        record = {
            "id": e.qas_id,
            "question": e.question,
            "answer": predictions[e.qas_id],
            "nbest": nbest[e.qas_id][:5],
        }
        if e.qas_id in null_odds:
            record["null_score_diff"] = null_odds[e.qas_id]
        records.append(record)
    return common.predictions_to(output_file, records)
