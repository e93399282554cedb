"""SQuAD examples and their windows: question + `doc_stride` windows of the context.

As the original `run_squad.py`: the question is cut to `max_query_length`
pieces, the context is split into windows of the remaining length every
`doc_stride` pieces, and each context piece keeps its character span and
whether this window gives it its maximum context (`_max_context`).

Dimension legend: F = windows (features), S = sequence.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from bert_tf.text.tokenizer import BertTokenizer


@dataclasses.dataclass
class SquadExample:
    """One question about one context.

    Attributes:
        qas_id: the question id.
        question: the question text.
        context: the paragraph.
        answers: `[{"text", "answer_start"}]` (character offsets).
        is_impossible: v2.0 unanswerable question.
    """

    qas_id: str
    question: str
    context: str
    answers: list
    is_impossible: bool = False


@dataclasses.dataclass
class SquadFeatures:
    """Windows of examples, as numpy arrays ([F] windows, [S] positions).

    Attributes:
        input_word_ids, input_mask, input_type_ids: [F, S] int32.
        start_positions, end_positions: [F] int32 training targets.
        example_index: [F] int32, the example of each window.
        char_starts, char_ends: [F, S] int32 character span of each context
            piece in its example's context; -1 outside the context.
        max_context: [F, S] bool, the piece has its maximum context here.
    """

    input_word_ids: np.ndarray
    input_mask: np.ndarray
    input_type_ids: np.ndarray
    start_positions: np.ndarray
    end_positions: np.ndarray
    example_index: np.ndarray
    char_starts: np.ndarray
    char_ends: np.ndarray
    max_context: np.ndarray

    def inputs(self) -> dict:
        return {
            "input_word_ids": self.input_word_ids,
            "input_mask": self.input_mask,
            "input_type_ids": self.input_type_ids,
        }

    def __len__(self):
        return len(self.example_index)


def _byte_to_char(text: str) -> np.ndarray:
    """[bytes + 1] character index of every UTF-8 byte offset of `text`."""
    if text.isascii():
        return np.arange(len(text) + 1)
    sizes = [len(c.encode("utf-8")) for c in text]
    return np.concatenate([np.repeat(np.arange(len(text)), sizes), [len(text)]])


def _tokenize_batches(fn, texts, batch=256):
    """Runs a tokenizer method over `texts` in batches -> list per text."""
    out = []
    for i in range(0, len(texts), batch):
        result = fn(tf.constant(texts[i : i + batch]))
        if not isinstance(result, tuple):
            result = (result,)
        rows = [r.to_list() for r in result]
        out.extend(zip(*rows))
    return out


def _windows(num_tokens: int, max_tokens: int, doc_stride: int) -> list:
    """`(start, length)` windows over `num_tokens` pieces (run_squad.py)."""
    spans, start = [], 0
    while start < num_tokens:
        length = min(num_tokens - start, max_tokens)
        spans.append((start, length))
        if start + length == num_tokens:
            break
        start += min(length, doc_stride)
    return spans


def _max_context(spans: list, num_tokens: int) -> np.ndarray:
    """[num_tokens] index of the window where each piece has most context.

    Score = min(left, right context) + 0.01 * window length; the first window
    wins ties, as in `run_squad.py`'s `_check_is_max_context`.
    """
    if not spans:  # A context without pieces has no windows.
        return np.zeros(num_tokens, np.int64)
    position = np.arange(num_tokens)
    scores = np.full((len(spans), num_tokens), -np.inf)
    for i, (start, length) in enumerate(spans):
        end = start + length - 1
        inside = (position >= start) & (position <= end)
        score = np.minimum(position - start, end - position) + 0.01 * length
        scores[i, inside] = score[inside]
    return scores.argmax(axis=0)


def make_features(
    examples: Sequence[SquadExample],
    tokenizer: BertTokenizer,
    max_seq_length: int = 384,
    doc_stride: int = 128,
    max_query_length: int = 64,
    is_training: bool = False,
) -> SquadFeatures:
    """Tokenizes questions and contexts and cuts the contexts into windows.

    Args:
        examples: the questions.
        tokenizer: the `BertTokenizer`.
        max_seq_length: S.
        doc_stride: pieces between window starts.
        max_query_length: questions are cut to this many pieces.
        is_training: compute `start_positions` / `end_positions` from the
            first answer (else they are 0).

    Returns:
        `SquadFeatures`.
    """
    if max_seq_length < max_query_length + 4:
        raise ValueError(
            f"max_seq_length={max_seq_length} leaves no room for "
            f"the context after max_query_length="
            f"{max_query_length} and 3 special tokens"
        )
    special = tokenizer.special_token_ids()
    cls_id, sep_id = special["start_of_sequence_id"], special["end_of_segment_id"]
    pad_id = special["padding_id"]
    contexts = list(dict.fromkeys(e.context for e in examples))
    context_index = {c: i for i, c in enumerate(contexts)}
    context_pieces = _tokenize_batches(tokenizer.tokenize_with_offsets, contexts)
    questions = _tokenize_batches(tokenizer.tokenize, [e.question for e in examples])
    byte_maps = {}
    rows = collections.defaultdict(list)
    s = max_seq_length
    for index, example in enumerate(examples):
        query = list(questions[index][0])[:max_query_length]
        c = context_index[example.context]
        ids, starts, ends = (np.asarray(x, np.int64) for x in context_pieces[c])
        if c not in byte_maps:
            byte_maps[c] = _byte_to_char(example.context)
        to_char = byte_maps[c]
        char_starts, char_ends = to_char[starts], to_char[ends]
        start_token = end_token = -1
        if is_training and not example.is_impossible and example.answers:
            answer = example.answers[0]
            a = answer["answer_start"]
            b = a + len(answer["text"])
            hit_start = np.flatnonzero(char_ends > a)
            hit_end = np.flatnonzero(char_starts < b)
            if hit_start.size and hit_end.size:
                start_token, end_token = hit_start[0], hit_end[-1]
                if start_token > end_token:
                    start_token = end_token = -1
        max_tokens = s - len(query) - 3
        spans = _windows(len(ids), max_tokens, doc_stride)
        best = _max_context(spans, len(ids))
        offset = len(query) + 2
        for w, (start, length) in enumerate(spans):
            word_ids = np.full(s, pad_id, np.int32)
            tokens = [cls_id] + query + [sep_id] + list(ids[start : start + length]) + [sep_id]
            word_ids[: len(tokens)] = tokens
            mask = np.zeros(s, np.int32)
            mask[: len(tokens)] = 1
            type_ids = np.zeros(s, np.int32)
            type_ids[offset : len(tokens)] = 1
            cs = np.full(s, -1, np.int32)
            ce = np.full(s, -1, np.int32)
            mc = np.zeros(s, bool)
            cs[offset : offset + length] = char_starts[start : start + length]
            ce[offset : offset + length] = char_ends[start : start + length]
            mc[offset : offset + length] = best[start : start + length] == w
            sp = ep = 0
            if start_token >= start and end_token >= 0 and end_token < start + length:
                sp, ep = start_token - start + offset, end_token - start + offset
            for key, value in (
                ("input_word_ids", word_ids),
                ("input_mask", mask),
                ("input_type_ids", type_ids),
                ("start_positions", sp),
                ("end_positions", ep),
                ("example_index", index),
                ("char_starts", cs),
                ("char_ends", ce),
                ("max_context", mc),
            ):
                rows[key].append(value)
    if not rows:
        raise ValueError("no examples to make features from")
    return SquadFeatures(
        **{k: np.asarray(v, bool if k == "max_context" else np.int32) for k, v in rows.items()}
    )
