"""SQuAD span labeler, strings in and answers out: windowing and decoding in the graph.

Export contract of `SpanLabelerServing` (signature `serving_default`, the same
in the SavedModel and the TFLite file):

Inputs:
  question: `tf.string` [B], UTF-8.
  context: `tf.string` [B], UTF-8; any length.

Outputs:
  answer_text: `tf.string` [B], the answer cut from `context` (its exact
    characters; "" when there is no answer).
  answer_start, answer_end: int32 [B], character (Unicode code point) offsets
    into `context`, end exclusive: `context[answer_start:answer_end] ==
    answer_text` in Python. -1 / -1 when there is no answer.
  score: float32 [B], start + end logit of the returned answer, as the Python
    decoding ranks answers (for the no-answer of v2.0: the null score).
  null_score_diff: float32 [B], the null score minus the best span's score
    (`decode_answers`' `null_odds`; for v2.0 users who pick their own
    threshold).
  num_windows: int32 [B], how many windows the context was cut into.

What the graph does, exactly as `bert_tf.tasks.squad` (`make_features`,
`decode_answers`) does in Python:

1. The question is tokenized and cut to `max_query_length` pieces; the
   context is tokenized with byte offsets.
2. The context pieces are cut into windows of `max_seq_length - len(question)
   - 3` pieces, a new window every `doc_stride` pieces, and every window is
   packed as `[CLS] question [SEP] window [SEP]` into one [W, S] batch (W =
   windows of all questions). The model runs once over it.
3. Per window, the `n_best_size` best starts and ends (ties: lower position
   first) make candidate spans, kept when both ends lie in the window's
   context, the end is not before the start, the span has at most
   `max_answer_length` pieces, and the start piece has its maximum context
   in this window (`run_squad.py`'s rule, its float ties included). The best
   span over all windows wins (ties: earlier window, then better-ranked
   start, then better-ranked end, the Python's order). Logit sums are kept
   exactly (float32 two-sum), as the Python's float64 sums are.
4. The null score is the minimum over windows of `start[CLS] + end[CLS]`. With
   `version_2_with_negative`, there is no answer when the null score minus
   the best span's score is above `null_score_diff_threshold` (or no span
   is valid).
5. The best span's first and last pieces give byte offsets, turned into code
   points; the text is cut with TF-Text's `ByteSplitter.split_by_offsets`.

A context with no pieces (empty or blank) has no windows: no answer, score 0,
as the Python decoding (whose v1.1 fallback text "empty" is returned as "").

The SavedModel also checks its inputs and fails with a clear message when the
batch sizes of `question` and `context` differ or a string is not valid
UTF-8. The TFLite file (`tflite.convert_task`, from the module's
`tflite_signatures()`) has the same signature and the same windowing and
decoding, built from TFLite builtins and TF-Text's
`FastBertNormalize`, `FastWordpieceTokenizeWithOffsets`,
`TFText>ByteSplitWithOffsets` and `TFText>ByteSplitByOffsets` kernels (and
`RaggedTensorToTensor` in its `preprocess` signature); it
leaves the checks out (TFLite has no assertions): on invalid UTF-8 its
character offsets count the bytes that are not UTF-8 continuation bytes, and
batch sizes that differ are not checked. Both run the model on one padding
row when a batch has no windows (TFLite kernels reject empty tensors), so an
empty batch returns empty outputs. The `TFText>` byte-splitter ops need a
TF Serving built with TF-Text >= 2.16.

Dimension legend: B = batch, W = windows of the batch, S = max_seq_length,
N = n_best_size (at most S), T = context pieces of the batch, Q = question
pieces of the batch, Y = context bytes of the batch, C = W * N * N candidate
spans.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.export.serving_base import TaskServingModule, same_batch, strings_spec
from bert_tf.graph_ops import char_offsets, gather_padded
from bert_tf.tasks.squad import DecodeOptions
from bert_tf.text.tokenizer import BertTokenizer

_INPUTS = [strings_spec("question"), strings_spec("context")]
_DECODE_FIELDS = tuple(f.name for f in dataclasses.fields(DecodeOptions))


def _max_context_ranks(seq_length: int) -> np.ndarray:
    """[S // 2 + 1, S + 1] int32 rank of `run_squad.py`'s max-context score.

    The score of a piece in a window of `length` pieces is `min(left, right)
    + 0.01 * length`, in float64 (`squad_features._max_context`). Ranking every
    (min, length) pair by that very float64 value lets the graph compare
    scores as integers and still reproduce the Python's float ties.
    """
    m = np.arange(seq_length // 2 + 1)[:, None]
    length = np.arange(seq_length + 1)[None, :]
    scores = m + np.array([0.01 * int(n) for n in length[0]])[None, :]
    _, ranks = np.unique(scores, return_inverse=True)
    return ranks.reshape(scores.shape).astype(np.int32)


def _two_sum(a: tf.Tensor, b: tf.Tensor):
    """`a + b` as float32 `(hi, lo)` with `hi + lo` exact (Knuth's TwoSum).

    The Python decoding adds float32 logits in float64, which is exact for
    logits of similar magnitude; TFLite has no float64 arithmetic, so the
    graph keeps the rounding error instead and compares `(hi, lo)` pairs.
    """
    hi = a + b
    b_virtual = hi - a
    lo = (a - (hi - b_virtual)) + (b - b_virtual)
    return hi, lo


class SpanLabelerServing(TaskServingModule):
    """SQuAD question answering on raw strings; see the module docstring.

    Args:
      model: a `BertSpanLabeler` (outputs `start_logits`, `end_logits` [B, S]),
        or any Keras model with those outputs.
      tokenizer: its `BertTokenizer`.
      max_seq_length: S, the packed window length.
      doc_stride: pieces between window starts.
      max_query_length: questions are cut to this many pieces.
      options: the decoding settings, `bert_tf.tasks.squad.DecodeOptions`
        (`n_best_size` starts and ends per window, `max_answer_length` in
        pieces, `version_2_with_negative`: allow the no-answer,
        `null_score_diff_threshold`: no answer when the null score minus the
        best span's score is above this); None: its defaults.
      **kwargs: `DecodeOptions` fields, replacing those of `options`
        (`n_best_size=10`, ...), and `TaskServingModule` arguments
        (`vocab_path`; the windows are packed here, so a `truncator` has no
        effect).
    """

    task = "squad"

    def __init__(
        self,
        model: keras.Model,
        tokenizer: BertTokenizer,
        max_seq_length: int = 384,
        doc_stride: int = 128,
        max_query_length: int = 64,
        options: DecodeOptions | None = None,
        **kwargs,
    ):
        options = dataclasses.replace(
            options or DecodeOptions(),
            **{f: kwargs.pop(f) for f in _DECODE_FIELDS if f in kwargs},
        )
        for name, value in (
            ("max_seq_length", max_seq_length),
            ("doc_stride", doc_stride),
            ("n_best_size", options.n_best_size),
            ("max_answer_length", options.max_answer_length),
        ):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(max_query_length, (int, np.integer)) or (max_query_length < 0):
            raise ValueError(
                f"max_query_length must be a non-negative int, got {max_query_length!r}"
            )
        if max_seq_length < max_query_length + 4:
            raise ValueError(
                f"max_seq_length={max_seq_length} leaves no room for the "
                f"context after max_query_length={max_query_length} and 3 "
                "special tokens"
            )
        tokenizer.require_special_tokens(("[CLS]", "[SEP]", "[PAD]"), "SQuAD windows")
        super().__init__(model, tokenizer, max_seq_length, **kwargs)
        self.doc_stride = int(doc_stride)
        self.max_query_length = int(max_query_length)
        # n_best_size, max_answer_length, ...: plain Python values, as the
        # defaults' types (int, bool, float), for the graph's arithmetic.
        for field in dataclasses.fields(DecodeOptions):
            setattr(self, field.name, type(field.default)(getattr(options, field.name)))
        self._context_ranks = _max_context_ranks(self.seq_length)
        self._byte_splitter = tf_text.ByteSplitter()

        @tf.function(input_signature=_INPUTS)
        def serve(question, context):
            checks = [same_batch(question, context, "question and context")]
            for name, strings in (("question", question), ("context", context)):
                checks.append(_assert_utf8(strings, name))
            with tf.control_dependencies(checks):
                question, context = tf.identity(question), tf.identity(context)
            return self._answer(question, context)

        @tf.function(input_signature=_INPUTS)
        def serve_lite(question, context):
            return self._answer(question, context)

        self.serve = serve
        self.serve_lite = serve_lite

    @classmethod
    def from_task(cls, task, vocab_path: str | None = None):
        """From a fine-tuned model folder (`bert_tf.tasks.common.load_task`).

        Args:
          task: `TaskFiles(model, tokenizer, info)`; `info` is the `task.json`
            written by `finetune_squad` (windows and decoding settings).
          vocab_path: a `vocab.txt` to attach as the asset, or None.
        """
        info = task.info
        missing = [k for k in ("max_seq_length", "doc_stride", "max_query_length") if k not in info]
        if missing:
            raise ValueError(f"the task.json of this SQuAD model lacks {missing}")
        options = {k: info[k] for k in _DECODE_FIELDS if k in info}
        return cls(
            task.model,
            task.tokenizer,
            max_seq_length=int(info["max_seq_length"]),
            doc_stride=int(info["doc_stride"]),
            max_query_length=int(info["max_query_length"]),
            vocab_path=vocab_path,
            **options,
        )

    def tflite_signatures(
        self,
    ) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """`serving_default` for TFLite: the same graph without the checks."""
        return {"serving_default": self.serve_lite.get_concrete_function()}

    # ---- The graph ----

    def _windows(self, question, context):
        """Tokenizes and packs every window of every question.

        Returns:
          A dict: `inputs` (the [W, S] model inputs), `win_example` [W],
          `win_start` [W] (first context piece), `ctx_begin` [W] (position of
          that piece in the window), `win_len` [W], `num_windows` [B],
          `c_splits` [B + 1], `c_starts` / `c_ends` [T] byte offsets, `ctx_pos`
          [W, S] (piece index in the window's context part).
        """
        s = self.seq_length
        cls_id = self.special_ids["start_of_sequence_id"]
        sep_id = self.special_ids["end_of_segment_id"]
        pad_id = self.special_ids["padding_id"]
        q_ids = self._tokenizer.tokenize(question)
        c_ids, c_starts, c_ends = self._tokenizer.tokenize_with_offsets(context)
        q_splits = tf.cast(q_ids.row_splits, tf.int32)  # [B + 1]
        c_splits = tf.cast(c_ids.row_splits, tf.int32)  # [B + 1]
        q_len = tf.minimum(q_splits[1:] - q_splits[:-1], self.max_query_length)
        c_len = c_splits[1:] - c_splits[:-1]  # [B]

        # Windows as squad_features._windows: full windows of `max_tokens` pieces every
        # `step` pieces until one reaches the end; none for an empty context.
        max_tokens = s - 3 - q_len  # [B]
        step = tf.minimum(self.doc_stride, max_tokens)  # [B]
        extra = tf.maximum(c_len - max_tokens, 0)
        num_windows = tf.where(c_len > 0, 1 + (extra + step - 1) // step, 0)  # [B]
        win_offsets = tf.concat(
            [tf.zeros([1], tf.int32), tf.cumsum(num_windows)], axis=0
        )  # [B + 1]
        w = tf.range(win_offsets[-1])  # [W]
        # Example of each window: how many examples end at or before it.
        win_example = tf.reduce_sum(
            tf.cast(w[:, None] >= win_offsets[None, 1:], tf.int32), axis=1
        )  # [W]
        k = w - tf.gather(win_offsets, win_example)  # [W] window in example
        win_start = k * tf.gather(step, win_example)  # [W]
        win_len = tf.minimum(
            tf.gather(c_len, win_example) - win_start,
            tf.gather(max_tokens, win_example),
        )  # [W]
        ql = tf.gather(q_len, win_example)  # [W]
        ctx_begin = ql + 2  # [W]

        pos = tf.range(s)[None, :]  # [1, S]
        ctx_pos = pos - ctx_begin[:, None]  # [W, S]
        is_query = (pos >= 1) & (pos <= ql[:, None])  # [W, S]
        is_context = (ctx_pos >= 0) & (ctx_pos < win_len[:, None])  # [W, S]
        is_sep = (pos == ql[:, None] + 1) | (ctx_pos == win_len[:, None])
        # Flat indices into the batch's pieces; -1 reads the padding 0.
        q_index = tf.where(
            is_query, tf.gather(q_splits, win_example)[:, None] + pos - 1, -1
        )  # [W, S]
        c_index = tf.where(
            is_context,
            tf.gather(c_splits, win_example)[:, None] + win_start[:, None] + ctx_pos,
            -1,
        )  # [W, S]
        q_tokens = gather_padded(q_ids.flat_values, q_index, 0)  # [W, S]
        c_tokens = gather_padded(c_ids.flat_values, c_index, 0)  # [W, S]
        word_ids = tf.where(
            pos == 0,
            cls_id,
            tf.where(
                is_query,
                q_tokens,
                tf.where(is_sep, sep_id, tf.where(is_context, c_tokens, pad_id)),
            ),
        )  # [W, S]
        mask = pos < (ctx_begin + win_len + 1)[:, None]  # [W, S]
        type_ids = (ctx_pos >= 0) & (ctx_pos <= win_len[:, None])  # [W, S]
        inputs = {
            "input_word_ids": tf.cast(word_ids, tf.int32),
            "input_mask": tf.where(mask, 1, 0),
            "input_type_ids": tf.where(type_ids, 1, 0),
        }
        return dict(
            inputs=inputs,
            win_example=win_example,
            win_start=win_start,
            ctx_begin=ctx_begin,
            win_len=win_len,
            num_windows=num_windows,
            c_splits=c_splits,
            c_starts=tf.cast(c_starts.flat_values, tf.int32),
            c_ends=tf.cast(c_ends.flat_values, tf.int32),
            ctx_pos=ctx_pos,
            c_index=c_index,
            is_context=is_context,
            num_pieces=tf.shape(c_ids.flat_values)[0],
        )

    def _max_context(self, win, num_windows_total):
        """[W, S] bool: the context piece has its maximum context here."""
        ctx_pos, win_len = win["ctx_pos"], win["win_len"][:, None]
        is_context, c_index = win["is_context"], win["c_index"]
        s = self.seq_length
        least = tf.clip_by_value(tf.minimum(ctx_pos, win_len - 1 - ctx_pos), 0, s // 2)  # [W, S]
        ranks = tf.gather(
            tf.reshape(tf.constant(self._context_ranks), [-1]),
            least * (s + 1) + tf.broadcast_to(win_len, tf.shape(least)),
        )  # [W, S]
        # Best rank per piece over the windows holding it, then the first
        # such window (`argmax`'s tie rule in squad_features._max_context).
        piece = tf.where(is_context, c_index, win["num_pieces"])  # [W, S]
        segments = win["num_pieces"] + 1
        best = tf.math.unsorted_segment_max(ranks, piece, segments)
        at_best = is_context & (ranks == tf.gather(best, piece))
        window = tf.broadcast_to(tf.range(num_windows_total)[:, None], tf.shape(piece))  # [W, S]
        first = tf.math.unsorted_segment_min(
            tf.where(at_best, window, num_windows_total), piece, segments
        )
        return is_context & (window == tf.gather(first, piece))

    def _answer(self, question, context):
        s, n = self.seq_length, min(self.n_best_size, self.seq_length)
        batch = tf.shape(context)[0]
        win = self._windows(question, context)
        win_example = win["win_example"]
        num_w = tf.shape(win_example)[0]
        # The model always sees at least one row (a padding row when there
        # are no windows): TFLite's encoder kernels reject empty tensors.
        spare = tf.zeros([tf.maximum(1 - num_w, 0), s], tf.int32)
        inputs = {
            k: tf.concat([v, spare], axis=0) for k, v in win["inputs"].items()
        }  # [max(W, 1), S]
        outputs = self.model(inputs, training=False)
        start = tf.cast(outputs["start_logits"][:num_w], tf.float32)  # [W, S]
        end = tf.cast(outputs["end_logits"][:num_w], tf.float32)  # [W, S]
        max_context = self._max_context(win, num_w)  # [W, S]

        # Candidates: the N best starts x N best ends of every window.
        start_top, start_pos = tf.math.top_k(start, n)  # [W, N]
        end_top, end_pos = tf.math.top_k(end, n)  # [W, N]
        row = tf.range(num_w)[:, None] * s  # [W, 1]
        flat_ok_start = tf.reshape(max_context, [-1])  # [W * S]
        flat_ok_end = tf.reshape(win["is_context"], [-1])  # [W * S]
        start_ok = tf.gather(flat_ok_start, row + start_pos)  # [W, N]
        end_ok = tf.gather(flat_ok_end, row + end_pos)  # [W, N]
        i, j = start_pos[:, :, None], end_pos[:, None, :]  # [W, N, 1] [W, 1, N]
        valid = (
            start_ok[:, :, None] & end_ok[:, None, :] & (j >= i) & (j - i < self.max_answer_length)
        )  # [W, N, N]
        hi, lo = _two_sum(start_top[:, :, None], end_top[:, None, :])
        valid = tf.reshape(valid, [-1])  # [C]
        hi, lo = tf.reshape(hi, [-1]), tf.reshape(lo, [-1])  # [C]
        segment = tf.reshape(
            tf.broadcast_to(win_example[:, None, None], [num_w, n, n]), [-1]
        )  # [C]
        candidate = tf.range(num_w * n * n)  # [C], the Python's order

        # Best (hi, lo) per question, then its first candidate.
        neg = tf.constant(-np.inf, tf.float32)
        best_hi = tf.math.unsorted_segment_max(tf.where(valid, hi, neg), segment, batch)  # [B]
        at_best = valid & (hi == tf.gather(best_hi, segment))
        best_lo = tf.math.unsorted_segment_max(tf.where(at_best, lo, neg), segment, batch)  # [B]
        at_best &= lo == tf.gather(best_lo, segment)
        best = tf.math.unsorted_segment_min(
            tf.where(at_best, candidate, num_w * n * n), segment, batch
        )  # [B]
        has_span = tf.math.unsorted_segment_max(tf.cast(valid, tf.int32), segment, batch) > 0  # [B]
        best = tf.where(has_span, best, -1)
        best_window = tf.where(has_span, best // (n * n), -1)  # [B]
        best_i = gather_padded(
            tf.reshape(start_pos, [-1]),
            tf.where(has_span, best // n, -1),
            0,
        )  # [B] position in the window
        best_j = gather_padded(
            tf.reshape(end_pos, [-1]),
            tf.where(has_span, best_window * n + best % n, -1),
            0,
        )  # [B]

        # Null score: the least start[CLS] + end[CLS], first window on ties.
        null_hi, null_lo = _two_sum(start[:, 0], end[:, 0])  # [W]
        inf = tf.constant(np.inf, tf.float32)
        min_hi = tf.math.unsorted_segment_min(null_hi, win_example, batch)
        at_min = null_hi == tf.gather(min_hi, win_example)
        min_lo = tf.math.unsorted_segment_min(tf.where(at_min, null_lo, inf), win_example, batch)
        has_window = win["num_windows"] > 0  # [B]
        # The Python starts from 1e6 (and keeps it without windows).
        null_hi = tf.where(has_window, min_hi, 1e6)
        null_lo = tf.where(has_window, min_lo, 0.0)
        span_hi = tf.where(has_span, best_hi, 0.0)
        span_lo = tf.where(has_span, best_lo, 0.0)
        diff = (null_hi - span_hi) + (null_lo - span_lo)  # [B]
        if self.n_best_size == 1 and self.version_2_with_negative:
            # An n-best list of one: a null entry ranked first hides the span.
            null_first = (null_hi > span_hi) | ((null_hi == span_hi) & (null_lo > span_lo))
            has_span &= ~null_first
        null_score_diff = tf.where(has_span, diff, null_hi + null_lo)
        answered = has_span
        if self.version_2_with_negative:
            answered &= diff <= self.null_score_diff_threshold
            score = tf.where(answered, span_hi + span_lo, null_hi + null_lo)
            score = tf.where(has_window, score, 0.0)
        else:
            score = span_hi + span_lo

        # Pieces → byte offsets → code points.
        win_at = tf.where(answered, best_window, -1)  # [B]
        piece_base = win["c_splits"][:-1] + (
            gather_padded(win["win_start"], win_at, 0) - gather_padded(win["ctx_begin"], win_at, 0)
        )  # [B]
        byte_start = gather_padded(win["c_starts"], tf.where(answered, piece_base + best_i, -1), 0)
        byte_end = gather_padded(win["c_ends"], tf.where(answered, piece_base + best_j, -1), 0)
        # A code point starts at every context byte [Y] that is not 10xxxxxx.
        to_chars = char_offsets(context)
        char_start = to_chars(tf.range(batch), byte_start)  # [B]
        char_end = to_chars(tf.range(batch), byte_end)  # [B]
        splits = tf.range(batch + 1, dtype=tf.int64)  # one span per string
        text = self._byte_splitter.split_by_offsets(
            context,
            tf.RaggedTensor.from_row_splits(byte_start, splits, validate=False),
            tf.RaggedTensor.from_row_splits(byte_end, splits, validate=False),
        ).flat_values  # [B]
        return {
            "answer_text": text,
            "answer_start": tf.where(answered, char_start, -1),
            "answer_end": tf.where(answered, char_end, -1),
            "score": score,
            "null_score_diff": null_score_diff,
            "num_windows": win["num_windows"],
        }


def _assert_utf8(strings: tf.Tensor, name: str) -> tf.Operation:
    """Fails naming the input and the rows that are not valid UTF-8."""
    fixed = tf.strings.unicode_transcode(
        strings, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
    )
    bad = tf.reshape(tf.where(tf.not_equal(fixed, strings)), [-1])
    return tf.debugging.Assert(
        tf.equal(tf.size(bad), 0),
        [f"input {name} is not valid UTF-8 at rows:", bad],
    )
