"""Raw-string serving modules of the task models, and their SavedModel export.

Every module is a `TaskServingModule` (see `serving_base`): `serving_default`
takes `tf.string` [None] inputs, `preprocess` and `token_ids` expose the
preprocessing and the id-level Keras model. Modules here:

- `ClassifierServing`: a `BertClassifier` → `logits`, `probabilities`,
  `label_ids`, `label_names`; a `BertRegressor` → `predictions`. Input `text`,
  or `text_a` and `text_b` for pairs.
- `TokenClassifierServing`: a `BertTokenClassifier` → per word-piece tokens,
  labels and character offsets, and entities grouped into spans.
- `EmbedderServing`: a `BertEmbedder` or `BertEncoder` → `pooled_output`
  and `mean_pooled`.
- `FillMaskServing`: a `BertPretrainer` → top-k tokens at each `[MASK]`.

`build_serving_module(model_dir)` makes the right module from a folder written
by `bert_tf.tasks.common.save_task`; `save_serving_module(module, dir)` writes
it as a SavedModel (temporary folder, op audit, swap).

Dimension legend: B = batch, S = sequence, C = classes, N = regression
outputs, H = hidden, T = word-pieces per text (padded), E = entities per text
(padded), M = `[MASK]` tokens per text (padded), K = top-k, V = vocabulary.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence

import keras
import tensorflow as tf
import tensorflow_text as tf_text
from absl import logging

from bert_tf import files
from bert_tf.export import op_audit
from bert_tf.export.serving_base import TaskServingModule, same_batch, strings_spec, trim_to_longest
from bert_tf.layers.pooling import MaskedMeanPooling
from bert_tf.text.packer import pack_segments
from bert_tf.text.tokenizer import BertTokenizer

__all__ = [
    "ClassifierServing",
    "EmbedderServing",
    "FillMaskServing",
    "TokenClassifierServing",
    "build_serving_module",
    "save_serving_module",
]


class ClassifierServing(TaskServingModule):
    """Text (or text pair) classification or regression on raw strings.

    `serving_default` takes `text` [B] (or `text_a`, `text_b` [B] for pairs)
    and returns, for a classifier:

    - `logits` [B, C] float32, `probabilities` [B, C] float32 (softmax);
    - `label_ids` [B] int32 (argmax), `label_names` [B] string;

    and for a regressor (`regression=True`): `predictions` [B, N] float32.

    Args:
      model: a `BertClassifier` (or `BertRegressor`).
      tokenizer: its `BertTokenizer`.
      seq_length: packed length S.
      labels: class names, in id order (classification); None for regression.
      pair: take two texts (`text_a`, `text_b`) per example.
      regression: the model is a regressor.
      truncator: `"round_robin"` or `"waterfall"`.
      vocab_path: a `vocab.txt` to attach as the asset, or None.
    """

    task = "classify"

    def __init__(
        self,
        model: keras.Model,
        tokenizer: BertTokenizer,
        seq_length: int,
        labels: Sequence[str] | None = None,
        pair: bool = False,
        regression: bool = False,
        truncator: str = "round_robin",
        vocab_path: str | None = None,
    ):
        num_outputs = int(model.outputs[0].shape[-1])
        if not regression:
            if labels is None:
                labels = [str(i) for i in range(num_outputs)]
            labels = [str(label) for label in labels]
            if len(labels) != num_outputs:
                raise ValueError(
                    f"{len(labels)} labels {labels!r} for a model with {num_outputs} classes"
                )
        # Checked first: the base class traces the preprocessing functions.
        super().__init__(model, tokenizer, seq_length, truncator, vocab_path)
        self.pair = bool(pair)
        self.regression = bool(regression)
        self.labels = None if regression else list(labels)
        if self.pair:
            self.serve = tf.function(
                self._serve_pair,
                input_signature=[
                    strings_spec("text_a"),
                    strings_spec("text_b"),
                ],
            )
        else:
            self.serve = tf.function(self._serve_single, input_signature=[strings_spec("text")])

    def _serve_single(self, text):
        return self._outputs(trim_to_longest(self.pack(_vector(text))))

    def _serve_pair(self, text_a, text_b):
        # Checked first so that unequal batches fail here, with a clear
        # message, not inside the packer's ragged ops.
        text_a, text_b = _vector(text_a), _vector(text_b)
        with tf.control_dependencies([same_batch(text_a, text_b, "text_a and text_b")]):
            text_a = tf.identity(text_a)
            text_b = tf.identity(text_b)
        return self._outputs(trim_to_longest(self.pack(text_a, text_b)))

    def _outputs(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = tf.cast(self.model(inputs, training=False), tf.float32)
        if self.regression:
            return {"predictions": outputs}  # [B, N]
        label_ids = tf.argmax(outputs, axis=-1, output_type=tf.int32)  # [B]
        names = tf.constant(self.labels, tf.string)  # [C]
        return {
            "logits": outputs,  # [B, C]
            "probabilities": tf.nn.softmax(outputs, axis=-1),  # [B, C]
            "label_ids": label_ids,
            "label_names": tf.gather(names, label_ids),  # [B]
        }

    @classmethod
    def from_task(cls, task, vocab_path: str | None = None):
        """From a `bert_tf.tasks.common.TaskFiles` of a "classify" folder."""
        info = task.info
        columns = info.get("text_columns") or ["text"]
        if len(columns) not in (1, 2):
            raise ValueError(
                f"task.json: text_columns={columns!r}; a classifier takes 1 text or a pair"
            )
        return cls(
            task.model,
            task.tokenizer,
            int(info["max_seq_length"]),
            labels=info.get("labels"),
            pair=len(columns) == 2,
            regression=bool(info.get("regression", False)),
            truncator=info.get("truncator", "round_robin"),
            vocab_path=vocab_path,
        )


# ---------------------------------------------------------------------------
# Flat (ragged values + row splits) helpers. They use only ops with TFLite
# builtin kernels (gather, scatter_nd, cumsum, compare, select), as the packer
# does, so the modules can also be converted for LiteRT.


def _vector(text: tf.Tensor) -> tf.Tensor:
    """`text` checked to be a vector [B] when the graph runs.

    A loaded signature does not check its inputs' shapes; without this a
    [B, 1] input would fail deep inside the tokenizer. The error reads
    "Shape of tensor text [2,1] is not compatible with expected shape [?]".
    """
    return tf.ensure_shape(text, [None])


def _row_ids(splits: tf.Tensor, num_values: tf.Tensor) -> tf.Tensor:
    """Row of each flat value, [N] int32, from int32 row splits [B + 1]."""
    boundaries = splits[1:-1, tf.newaxis]  # [B - 1, 1]
    # A +1 at every row start (empty rows add up), then a running sum.
    marks = tf.scatter_nd(boundaries, tf.ones_like(boundaries[:, 0]), [num_values + 1])
    return tf.cumsum(marks)[:num_values]  # [N]


def _shift_right(values: tf.Tensor, fill) -> tf.Tensor:
    """[W] → [W]: each value's predecessor, `fill` first (W may be 0)."""
    return tf.concat([[fill], values], axis=0)[: tf.size(values)]


def _shift_left(values: tf.Tensor, fill) -> tf.Tensor:
    """[W] → [W]: each value's successor, `fill` last (W may be 0)."""
    return tf.concat([values, [fill]], axis=0)[1:]


def _max_row_length(splits: tf.Tensor) -> tf.Tensor:
    """Longest row (0 for an empty batch), int32 scalar."""
    lengths = splits[1:] - splits[:-1]  # [B]
    return tf.reduce_max(tf.concat([lengths, [0]], axis=0))


def _dense_index(
    rows: tf.Tensor, in_row: tf.Tensor, batch: tf.Tensor, width: tf.Tensor
) -> tf.Tensor:
    """[B, W] int32: the flat index of each (row, slot), -1 where none."""
    num_values = tf.shape(rows)[0]
    flat = tf.scatter_nd(
        (rows * width + in_row)[:, tf.newaxis],
        tf.range(1, num_values + 1),
        [batch * width],
    )  # [B * W]; each slot written at most once, 0 elsewhere.
    return tf.reshape(flat, [batch, width]) - 1  # [B, W]


def _gather_padded(values: tf.Tensor, index: tf.Tensor, pad) -> tf.Tensor:
    """`values[index]`, `pad` where `index` is -1 (any index shape).

    Numbers only: TFLite cannot concatenate strings; strings are gathered
    from a constant table that ends with "" (see `_string_table`).
    """
    n = tf.shape(values)[0]
    padded = tf.concat([values, tf.fill([1], tf.constant(pad, values.dtype))], axis=0)  # [N + 1]
    return tf.gather(padded, tf.where(index < 0, n, index))


def _string_table(strings: Sequence[str]) -> tf.Tensor:
    """[n + 1] string constant: `strings` then "" (what id -1 / n reads)."""
    return tf.constant(list(strings) + [""], tf.string)


def _lookup(table: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
    """`table[ids]` of a `_string_table`, "" where `ids` is -1."""
    n = tf.shape(table)[0] - 1
    return tf.gather(table, tf.where(ids < 0, n, ids))


def _char_offsets(text: tf.Tensor):
    """A function mapping (row, UTF-8 byte offset) to a character offset.

    Characters are counted as the bytes that do not continue a UTF-8
    sequence (not 0b10xxxxxx): for valid UTF-8, the number of Unicode code
    points before the offset (Python's `str` indices). In invalid UTF-8 a
    stray lead byte counts as one character and a stray continuation byte
    as none (Python's `errors="replace"` would count each as one).
    """
    bytez = tf_text.ByteSplitter().split(text)  # [B, (L)] uint8
    values = tf.cast(bytez.flat_values, tf.int32)  # [L]
    splits = tf.cast(bytez.row_splits, tf.int32)  # [B + 1]
    lead = tf.cast(tf.logical_or(values < 0x80, values >= 0xC0), tf.int32)  # [L]
    before = tf.concat([[0], tf.cumsum(lead)], axis=0)  # [L + 1]

    def to_chars(rows: tf.Tensor, byte_offsets: tf.Tensor) -> tf.Tensor:
        base = tf.gather(splits, rows)  # [N] first byte of each row.
        offsets = tf.cast(byte_offsets, tf.int32)
        return tf.gather(before, base + offsets) - tf.gather(before, base)

    return to_chars


def _word_start_table(tokenizer: BertTokenizer) -> tf.Tensor:
    """[V] bool: whether each vocabulary piece starts a word (no `##`)."""
    suffix = tokenizer.suffix_indicator
    return tf.constant(
        [not (suffix and t.startswith(suffix) and t != suffix) for t in tokenizer.vocabulary],
        tf.bool,
    )


# IOB2 tags of a token classifier: kinds and types, as `bert_tf.tasks.ner`.
_IOB2 = re.compile(r"^(O|[BI]-\S+)$")
_KIND_O, _KIND_B, _KIND_I = 0, 1, 2


class TokenClassifierServing(TaskServingModule):
    """Token classification (NER) on raw strings, with entity spans.

    `serving_default` takes `text` [B] and returns dense, padded tensors:

    - per word-piece (T = most pieces in the batch): `tokens` [B, T] string
      (the vocabulary pieces), `token_labels` [B, T] string, `token_label_ids`
      [B, T] int32, `token_scores` [B, T] float32 (softmax probability of the
      label), `token_starts` / `token_ends` [B, T] int32 character offsets
      into the input (end exclusive), `num_tokens` [B] int32;
    - per entity (E = most entities in the batch): `entity_types` [B, E]
      string, `entity_texts` [B, E] string (cut from the input),
      `entity_starts` / `entity_ends` [B, E] int32 character offsets (end
      exclusive: `text[start:end] == entity_text` in Python), `entity_scores`
      [B, E] float32 (mean label probability of the entity's words),
      `num_entities` [B] int32.

    Padding is "" for strings, -1 for ids and offsets, 0 for scores.

    Words are the tokenizer's basic tokens (split on whitespace and
    punctuation): a piece starting with the suffix indicator (`##`)
    continues the previous word. A word's label is its first piece's label,
    as in training (`bert_tf.tasks.ner.align_words`); the other pieces keep
    their own predictions in `token_labels` but do not affect entities.
    Words are grouped into entities by conlleval's IOB2 rules, exactly as
    `bert_tf.tasks.ner.get_entities` and `seqeval` do.

    Offsets are Unicode code points of the input (Python `str` indices);
    for invalid UTF-8 see `_char_offsets`.

    Long texts: only the first S - 2 pieces are labelled (they fill the
    packed sequence); later pieces are returned with label "" / id -1 and
    their words count as `O`, as `bert_tf.tasks.ner` predicts words cut off
    by `max_seq_length`.

    Args:
      model: a `BertTokenClassifier` (any Keras model mapping the three BERT
        inputs to [B, S, C] logits).
      tokenizer: its `BertTokenizer`.
      seq_length: packed length S.
      labels: the IOB2 tags in id order (`task.json`'s `labels`).
      vocab_path: a `vocab.txt` to attach as the asset, or None.
    """

    task = "ner"

    def __init__(
        self,
        model: keras.Model,
        tokenizer: BertTokenizer,
        seq_length: int,
        labels: Sequence[str],
        vocab_path: str | None = None,
    ):
        labels = [str(label) for label in labels]
        bad = [label for label in labels if not _IOB2.match(label)]
        if bad:
            raise ValueError(f"labels must be IOB2 tags (O, B-TYPE, I-TYPE); got {bad!r}")
        num_classes = int(model.outputs[0].shape[-1])
        if len(labels) != num_classes:
            raise ValueError(
                f"{len(labels)} labels {labels!r} for a model with {num_classes} classes"
            )
        if int(seq_length) < 3:
            raise ValueError(f"seq_length={seq_length} leaves no room for text")
        # Checked first: the base class traces the preprocessing functions.
        super().__init__(model, tokenizer, seq_length, "round_robin", vocab_path)
        self.labels = labels
        # Same parsing as bert_tf.tasks.ner.get_entities.
        types = sorted({label[1:].split("-", maxsplit=1)[-1] for label in labels} - {""})
        self.entity_type_names = types
        kinds = {"O": _KIND_O, "B": _KIND_B, "I": _KIND_I}
        # One more entry for "no label" (-1): an O.
        self._label_kind = tf.constant(
            [kinds[label[0]] for label in labels] + [_KIND_O], tf.int32
        )  # [C + 1]
        self._label_type = tf.constant(
            [types.index(label[2:]) if label != "O" else -1 for label in labels] + [-1],
            tf.int32,
        )  # [C + 1]
        self._starts_word = _word_start_table(tokenizer)  # [V]
        self.serve = tf.function(self._serve, input_signature=[strings_spec("text")])

    def _serve(self, text):
        return self.tag(_vector(text))

    def tag(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        """The outputs of `serving_default` (see the class docstring)."""
        special = self.special_ids
        batch = tf.shape(text)[0]
        seq = self.seq_length
        ids, starts, ends = self._tokenizer.tokenize_with_offsets(text)
        flat_ids = ids.flat_values  # [N] every piece of the batch.
        splits = tf.cast(ids.row_splits, tf.int32)  # [B + 1]
        num = tf.shape(flat_ids)[0]
        rows = _row_ids(splits, num)  # [N]
        in_row = tf.range(num) - tf.gather(splits, rows)  # [N]
        to_chars = _char_offsets(text)
        char_starts = to_chars(rows, starts.flat_values)  # [N]
        char_ends = to_chars(rows, ends.flat_values)  # [N]

        inputs = pack_segments(
            [ids],
            seq,
            special["start_of_sequence_id"],
            special["end_of_segment_id"],
            special["padding_id"],
        )
        logits = tf.cast(self.model(inputs, training=False), tf.float32)
        probs = tf.nn.softmax(logits, axis=-1)  # [B, S, C]
        best = tf.reshape(tf.argmax(logits, axis=-1, output_type=tf.int32), [-1])  # [B * S]
        best_prob = tf.reshape(tf.reduce_max(probs, axis=-1), [-1])  # [B * S]
        # Piece j of a row sits at position j + 1 (after [CLS]) if j < S - 2.
        labelled = in_row < seq - 2  # [N]
        position = tf.where(labelled, rows * seq + in_row + 1, 0)  # [N]
        label_ids = tf.where(labelled, tf.gather(best, position), -1)  # [N]
        scores = tf.where(labelled, tf.gather(best_prob, position), 0.0)

        label_names = _string_table(self.labels)  # [C + 1]
        vocab = _string_table(self._tokenizer.vocabulary)  # [V + 1]
        width = _max_row_length(splits)
        index = _dense_index(rows, in_row, batch, width)  # [B, T]
        outputs = {
            "tokens": _lookup(vocab, _gather_padded(flat_ids, index, -1)),
            "token_labels": _lookup(label_names, _gather_padded(label_ids, index, -1)),
            "token_label_ids": _gather_padded(label_ids, index, -1),
            "token_scores": _gather_padded(scores, index, 0.0),
            "token_starts": _gather_padded(char_starts, index, -1),
            "token_ends": _gather_padded(char_ends, index, -1),
            "num_tokens": splits[1:] - splits[:-1],
        }
        outputs.update(
            self._entities(
                text,
                batch,
                flat_ids,
                rows,
                label_ids,
                scores,
                starts.flat_values,
                ends.flat_values,
                to_chars,
            )
        )
        return outputs

    def _entities(
        self,
        text,
        batch,
        flat_ids,
        rows,
        label_ids,
        scores,
        byte_starts,
        byte_ends,
        to_chars,
    ) -> dict[str, tf.Tensor]:
        """Entities from the word-level IOB2 tags (get_entities' rules).

        W = words in the batch (flat), E' = entities in the batch (flat).
        """
        num = tf.shape(flat_ids)[0]
        num_classes = len(self.labels)
        starts_word = tf.gather(self._starts_word, flat_ids)  # [N]
        first = tf.reshape(tf.where(starts_word), [-1])  # [W] first pieces.
        first = tf.cast(first, tf.int32)
        last = _shift_left(first, num) - 1  # [W] last pieces.
        word_rows = tf.gather(rows, first)  # [W]
        word_label = tf.gather(label_ids, first)  # [W], -1: no label.
        word_label = tf.where(word_label < 0, num_classes, word_label)
        kind = tf.gather(self._label_kind, word_label)  # [W]
        type_ = tf.gather(self._label_type, word_label)  # [W]
        word_scores = tf.gather(scores, first)  # [W]

        # Previous / next word of the same row (a row's first word follows an
        # O of no type; its last word precedes the final O).
        new_row = word_rows != _shift_right(word_rows, -1)  # [W]
        row_end = word_rows != _shift_left(word_rows, -1)  # [W]
        prev_kind = tf.where(new_row, _KIND_O, _shift_right(kind, _KIND_O))
        prev_type = tf.where(new_row, -1, _shift_right(type_, -1))
        next_kind = tf.where(row_end, _KIND_O, _shift_left(kind, _KIND_O))
        next_type = tf.where(row_end, -1, _shift_left(type_, -1))
        is_b, is_i = kind == _KIND_B, kind == _KIND_I
        # A chunk starts at B, at I after O, or at I of another type.
        begins = is_b | (is_i & ((prev_kind == _KIND_O) | (prev_type != type_)))
        # An open chunk (B or I) ends before B or O, or before another type.
        closes = (is_b | is_i) & ((next_kind != _KIND_I) | (next_type != type_))
        # With IOB2 tags every chunk has one begin and one end, in order.
        begin_words = tf.cast(tf.reshape(tf.where(begins), [-1]), tf.int32)
        end_words = tf.cast(tf.reshape(tf.where(closes), [-1]), tf.int32)
        entity_rows = tf.gather(word_rows, begin_words)  # [E']
        byte_begin = tf.gather(byte_starts, tf.gather(first, begin_words))
        byte_end = tf.gather(byte_ends, tf.gather(last, end_words))  # [E']
        counts = tf.math.unsorted_segment_sum(tf.ones_like(entity_rows), entity_rows, batch)  # [B]
        entity_splits = tf.concat([[0], tf.cumsum(counts)], axis=0)  # [B + 1]
        score_sums = tf.concat([[0.0], tf.cumsum(word_scores)], axis=0)
        entity_scores = (
            tf.gather(score_sums, end_words + 1) - tf.gather(score_sums, begin_words)
        ) / tf.cast(end_words - begin_words + 1, tf.float32)  # [E']
        entity_types = tf.gather(type_, begin_words)  # [E'] type ids.

        num_entities = tf.shape(entity_rows)[0]
        in_row = tf.range(num_entities) - tf.gather(entity_splits, entity_rows)
        index = _dense_index(entity_rows, in_row, batch, _max_row_length(entity_splits))  # [B, E]
        # Texts cut from the input by byte offsets, straight into the padded
        # [B, E] layout (a padding slot cuts [0, 0): ""). The op takes int32
        # offsets and int64 row splits.
        dense_begin = _gather_padded(byte_begin, index, 0)  # [B, E]
        dense_end = _gather_padded(byte_end, index, 0)  # [B, E]
        width = tf.shape(index)[1]
        splits = tf.cast(tf.range(batch + 1) * width, tf.int64)  # [B + 1]
        texts = tf_text.ByteSplitter().split_by_offsets(
            text,
            tf.RaggedTensor.from_row_splits(
                tf.cast(tf.reshape(dense_begin, [-1]), tf.int32),
                splits,
                validate=False,
            ),
            tf.RaggedTensor.from_row_splits(
                tf.cast(tf.reshape(dense_end, [-1]), tf.int32),
                splits,
                validate=False,
            ),
        )  # [B, (E)], E per row.
        return {
            "entity_types": _lookup(
                _string_table(self.entity_type_names),
                _gather_padded(entity_types, index, -1),
            ),
            "entity_texts": tf.reshape(texts.flat_values, [batch, width]),
            "entity_starts": _gather_padded(to_chars(entity_rows, byte_begin), index, -1),
            "entity_ends": _gather_padded(to_chars(entity_rows, byte_end), index, -1),
            "entity_scores": _gather_padded(entity_scores, index, 0.0),
            # From the splits, not `counts`: LiteRT cannot read an empty
            # UNSORTED_SEGMENT_SUM output (an empty batch).
            "num_entities": entity_splits[1:] - entity_splits[:-1],
        }

    @classmethod
    def from_task(cls, task, vocab_path: str | None = None):
        """From a `bert_tf.tasks.common.TaskFiles` of an "ner" folder."""
        return cls(
            task.model,
            task.tokenizer,
            int(task.info["max_seq_length"]),
            labels=task.info["labels"],
            vocab_path=vocab_path,
        )


class EmbedderServing(TaskServingModule):
    """Sentence embeddings of raw strings.

    `serving_default` takes `text` [B] and returns float32 [B, H]:

    - `pooled_output`: BERT's tanh pooler on `[CLS]`;
    - `mean_pooled`: the mean of the last layer over the real tokens
      (`[CLS]` and `[SEP]` included, padding excluded), as
      sentence-transformers pools (`MaskedMeanPooling`);
    - `embeddings`: the `BertEmbedder`'s own output (its pooling and L2
      normalization); for a bare encoder, the same as `mean_pooled`.

    The `token_ids` signature runs the `BertEmbedder` (an encoder is wrapped
    in `BertEmbedder(encoder, pooling="mean")`).

    Args:
      model: a `BertEmbedder` or a `BertEncoder`.
      tokenizer: its `BertTokenizer`.
      seq_length: packed length S.
      vocab_path: a `vocab.txt` to attach as the asset, or None.
    """

    task = "embed"

    def __init__(
        self,
        model: keras.Model,
        tokenizer: BertTokenizer,
        seq_length: int,
        vocab_path: str | None = None,
    ):
        from bert_tf.encoder import BertEncoder
        from bert_tf.heads import BertEmbedder

        if isinstance(model, BertEncoder):
            model = BertEmbedder(model, pooling="mean")
        if not isinstance(model, BertEmbedder):
            raise TypeError(
                f"model must be a bert_tf BertEmbedder or BertEncoder, got {type(model).__name__}"
            )
        super().__init__(model, tokenizer, seq_length, "round_robin", vocab_path)
        self.encoder = model.encoder
        self._mean = MaskedMeanPooling(name="serving_mean_pooling")
        self.serve = tf.function(self._serve, input_signature=[strings_spec("text")])

    def _serve(self, text):
        inputs = trim_to_longest(self.pack(_vector(text)))
        # One encoder pass; the embedder's own pooling is picked from it.
        outputs = self.encoder(inputs, training=False)
        pooled = tf.cast(outputs["pooled_output"], tf.float32)  # [B, H]
        mean = self._mean(outputs["sequence_output"], inputs["input_mask"])  # [B, H]
        if self.model.pooling == "mean":
            embeddings = mean
        elif self.model.pooling == "cls":
            embeddings = tf.cast(outputs["sequence_output"][:, 0], tf.float32)
        else:
            embeddings = pooled
        if self.model.normalize:  # As keras.layers.UnitNormalization.
            embeddings = keras.ops.normalize(embeddings, axis=-1, order=2, epsilon=1e-12)
        return {
            "pooled_output": pooled,
            "mean_pooled": mean,
            "embeddings": embeddings,  # [B, H]
        }

    @classmethod
    def from_encoder(
        cls,
        encoder: keras.Model,
        vocab_file: str,
        lower_case: bool,
        seq_length: int = 128,
    ):
        """From an encoder (or embedder) and its `vocab.txt` (also the asset)."""
        tokenizer = BertTokenizer(vocab_file, lower_case=lower_case)
        return cls(encoder, tokenizer, seq_length, vocab_path=vocab_file)


MASK_TEXT = "[MASK]"


class FillMaskServing(TaskServingModule):
    """Fill-mask: the masked LM's top-k tokens at each `[MASK]` of raw text.

    `serving_default` takes `text` [B], in which the literal `[MASK]` marks
    the tokens to predict, and returns (M = most masks in the batch):

    - `mask_positions` [B, M] int32: positions in the packed sequence;
    - `top_k_ids` [B, M, K] int32, `top_k_tokens` [B, M, K] string,
      `top_k_scores` [B, M, K] float32 (softmax probabilities, descending);
    - `num_masks` [B] int32.

    Padding is -1, "" and 0.

    BERT's tokenizer splits `[MASK]` on its brackets (`[`, `mask`, `]`), so
    the graph finds each literal `[MASK]` in the input's bytes and merges
    the pieces that cover it into the one `[MASK]` id. A mask beyond the
    first S - 2 pieces is cut off with the text and not reported.

    Args:
      model: a `BertPretrainer` (masked-LM head; `masked_lm_positions` input).
      tokenizer: its `BertTokenizer` (with a `[MASK]` token).
      seq_length: packed length S.
      top_k: K, the candidates per mask.
      vocab_path: a `vocab.txt` to attach as the asset, or None.
    """

    task = "fill_mask"

    def __init__(
        self,
        model: keras.Model,
        tokenizer: BertTokenizer,
        seq_length: int,
        top_k: int = 5,
        vocab_path: str | None = None,
    ):
        tokenizer.require_special_tokens([MASK_TEXT], "fill-mask")
        if not isinstance(top_k, int) or not 1 <= top_k <= len(tokenizer.vocabulary):
            raise ValueError(
                f"top_k must be an int in [1, {len(tokenizer.vocabulary)}], got {top_k!r}"
            )
        super().__init__(model, tokenizer, seq_length, "round_robin", vocab_path)
        self.top_k = top_k
        self._mask_bytes = tf.constant(list(MASK_TEXT.encode()), tf.int32)
        self.serve = tf.function(self._serve, input_signature=[strings_spec("text")])

    def _extra_token_id_inputs(self):
        return {
            "masked_lm_positions": tf.TensorSpec([None, None], tf.int32, name="masked_lm_positions")
        }

    def _tokenize_with_masks(self, text: tf.Tensor) -> tf.RaggedTensor:
        """Token ids [B, (tokens)] with each literal `[MASK]` as one id.

        L = bytes in the batch (flat), N = pieces in the batch (flat).
        """
        ids, starts, _ = self._tokenizer.tokenize_with_offsets(text)
        bytez = tf_text.ByteSplitter().split(text)  # [B, (L)]
        values = tf.cast(bytez.flat_values, tf.int32)  # [L]
        byte_splits = tf.cast(bytez.row_splits, tf.int32)  # [B + 1]
        num_bytes = tf.shape(values)[0]
        width = len(MASK_TEXT)
        byte_rows = _row_ids(byte_splits, num_bytes)  # [L]
        row_stop = tf.gather(byte_splits, byte_rows + 1)  # [L]
        # [MASK] starts at byte i if its 6 bytes follow, within the row.
        here = tf.range(num_bytes)  # [L]
        is_mask = here + width <= row_stop
        for k in range(width):
            at = tf.minimum(here + k, num_bytes - 1)
            is_mask &= tf.gather(values, at) == self._mask_bytes[k]
        # Bytes 1..5 of a [MASK]: a piece starting there is dropped.
        inside = tf.zeros_like(is_mask)
        for k in range(1, width):
            inside |= _shift_right_by(is_mask, k)
        flat_ids = ids.flat_values  # [N]
        splits = tf.cast(ids.row_splits, tf.int32)  # [B + 1]
        num = tf.shape(flat_ids)[0]
        rows = _row_ids(splits, num)  # [N]
        piece_byte = tf.gather(byte_splits, rows) + tf.cast(
            starts.flat_values, tf.int32
        )  # [N] global byte of each piece's start.
        piece_byte = tf.minimum(piece_byte, tf.maximum(num_bytes - 1, 0))
        pad = tf.zeros([1], tf.bool)  # Guards the gathers when L = 0.
        starts_mask = tf.gather(tf.concat([is_mask, pad], 0), piece_byte)
        in_mask = tf.gather(tf.concat([inside, pad], 0), piece_byte)
        flat_ids = tf.where(starts_mask, self.special_ids["mask_id"], flat_ids)
        keep = tf.logical_not(in_mask)  # [N]
        kept_before = tf.concat([[0], tf.cumsum(tf.cast(keep, tf.int32))], axis=0)  # [N + 1]
        new_splits = tf.gather(kept_before, splits)  # [B + 1]
        kept = tf.gather(flat_ids, tf.reshape(tf.where(keep), [-1]))
        return tf.RaggedTensor.from_row_splits(kept, tf.cast(new_splits, tf.int64), validate=False)

    def _serve(self, text):
        text = _vector(text)
        special = self.special_ids
        batch = tf.shape(text)[0]
        seq = self.seq_length
        ids = self._tokenize_with_masks(text)
        inputs = pack_segments(
            [ids],
            seq,
            special["start_of_sequence_id"],
            special["end_of_segment_id"],
            special["padding_id"],
        )
        is_mask = inputs["input_word_ids"] == special["mask_id"]  # [B, S]
        num_masks = tf.reduce_sum(tf.cast(is_mask, tf.int32), axis=1)  # [B]
        width = tf.reduce_max(tf.concat([num_masks, [0]], axis=0))  # M
        where = tf.cast(tf.where(is_mask), tf.int32)  # [M', 2] (row, position)
        rows, positions = where[:, 0], where[:, 1]
        rank = tf.cumsum(tf.cast(is_mask, tf.int32), axis=1) - 1  # [B, S]
        in_row = tf.gather_nd(rank, where)  # [M']
        index = _dense_index(rows, in_row, batch, width)  # [B, M]
        mask_positions = _gather_padded(positions, index, -1)  # [B, M]
        inputs["masked_lm_positions"] = tf.maximum(mask_positions, 0)
        # The masked-LM head's gather rejects an empty batch: add one row of
        # padding then (none otherwise) and drop its logits. Only numbers
        # are padded and sliced (TFLite cannot concatenate strings).
        extra = tf.cast(tf.equal(batch, 0), tf.int32)
        inputs = {
            key: tf.concat([value, tf.ones([extra, tf.shape(value)[1]], tf.int32)], 0)
            for key, value in inputs.items()
        }
        logits = self.model(inputs, training=False)["mlm_logits"][:batch]
        probs = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        scores, top_ids = tf.math.top_k(probs, k=self.top_k)  # [B, M, K]
        valid = tf.expand_dims(mask_positions, -1) >= 0  # [B, M, 1]
        top_ids = tf.where(valid, top_ids, -1)  # [B, M, K]
        return {
            "mask_positions": mask_positions,
            "top_k_ids": top_ids,
            "top_k_tokens": _lookup(_string_table(self._tokenizer.vocabulary), top_ids),
            "top_k_scores": tf.where(valid, scores, 0.0),
            "num_masks": num_masks,
        }

    @classmethod
    def from_pretrainer(
        cls,
        pretrainer: keras.Model,
        vocab_file: str,
        lower_case: bool,
        seq_length: int = 128,
        top_k: int = 5,
    ):
        """From a `BertPretrainer` and its `vocab.txt` (also the asset)."""
        tokenizer = BertTokenizer(vocab_file, lower_case=lower_case)
        return cls(pretrainer, tokenizer, seq_length, top_k, vocab_path=vocab_file)


def _shift_right_by(values: tf.Tensor, k: int) -> tf.Tensor:
    """[L] bool → [L]: `values[i - k]`, False for i < k (L may be < k)."""
    padded = tf.concat([tf.zeros([k], tf.bool), values], axis=0)
    return padded[: tf.size(values)]


# ---------------------------------------------------------------------------
# Factory and export.


def build_serving_module(model_dir: str, vocab_path_for_asset: bool = True) -> TaskServingModule:
    """The serving module of a fine-tuned model folder (`save_task`'s layout).

    Args:
      model_dir: a folder with `model.keras`, `vocab.txt` and `task.json`.
      vocab_path_for_asset: attach the folder's `vocab.txt` as the
        SavedModel's asset (`assets/vocab.txt`).

    Returns:
      A `ClassifierServing`, `TokenClassifierServing` or (SQuAD)
      `bert_tf.export.squad_serving.SpanLabelerServing`.

    Raises:
      FileNotFoundError: the folder or one of its files is missing.
      ValueError: `task.json` names a task that has no serving module.
    """
    from bert_tf.tasks import common

    info = common.load_task_info(model_dir)
    task_name = info.get("task")
    if task_name not in _TASKS:
        raise ValueError(
            f"{os.path.join(model_dir, common.TASK_FILE)}: task "
            f"{task_name!r} has no serving module; expected one of "
            f"{sorted(_TASKS)}"
        )
    task = common.load_task(model_dir)
    vocab_path = os.path.join(model_dir, common.VOCAB_FILE) if vocab_path_for_asset else None
    if task_name == "squad":
        from bert_tf.export import squad_serving

        return squad_serving.SpanLabelerServing.from_task(task, vocab_path=vocab_path)
    return _TASKS[task_name].from_task(task, vocab_path=vocab_path)


def save_serving_module(
    module: tf.Module, export_dir: str, overwrite: bool = False
) -> dict[str, list]:
    """Writes a serving module as a SavedModel and audits its ops.

    The SavedModel is written to a temporary folder next to `export_dir`,
    audited, then moved into place, so a failure leaves any existing
    `export_dir` as it was.

    Args:
      module: a `TaskServingModule` (anything with `signatures()`), or a
        loaded SavedModel's root object (re-exported with its signatures).
      export_dir: the SavedModel folder to create.
      overwrite: replace an existing `export_dir`; without it an existing
        folder is an error and is left untouched.

    Returns:
      The op audit: `{"core": [...], "tf_text": [...]}`.

    Raises:
      FileExistsError: `export_dir` exists and `overwrite` is False.
      ValueError: the graph needs an op outside core TF and TF-Text.
    """
    export_dir = export_dir.rstrip("/") or export_dir
    files.refuse_existing(export_dir, overwrite)
    if hasattr(module, "signatures") and callable(module.signatures):
        signatures = module.signatures()
    else:
        signatures = dict(getattr(module, "signatures", {}))
    parent = os.path.dirname(os.path.abspath(export_dir))
    tmp_dir = files.make_temp_dir(parent, prefix=f".{os.path.basename(export_dir)}.tmp-")
    try:
        tf.saved_model.save(module, tmp_dir, signatures=signatures)
        audit = op_audit.audit_saved_model(tmp_dir)
        files.replace_dir(tmp_dir, export_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    logging.info(
        "exported %s to %s; TF-Text ops: %s",
        type(module).__name__,
        export_dir,
        audit["tf_text"],
    )
    return audit


_TASKS = {
    "classify": ClassifierServing,
    "ner": TokenClassifierServing,
    "squad": None,  # bert_tf.export.squad_serving, imported when needed.
}
