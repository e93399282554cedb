"""Token classification (NER) on raw strings: labelled word-pieces and entity spans.

`TokenClassifierServing` is a `TaskServingModule` (see `serving_base`)
around a `BertTokenClassifier`: `serving_default` takes `text` [B] and
returns per word-piece tokens, labels, scores and character offsets, and the
entities the word-level IOB2 tags make, grouped in the graph by conlleval's
rules (as `bert_tf.tasks.ner.get_entities`). The IOB2 helpers (tag pattern,
tag kinds, the word-start table of a vocabulary) live here too. Everything is
built from flat values and row splits (`bert_tf.graph_ops`), so the module
also converts for LiteRT.

Dimension legend: B = batch, S = sequence, C = classes, V = vocabulary,
N = word-pieces of the batch (flat), T = word-pieces per text (padded),
W = words of the batch (flat), E = entities per text (padded), E' =
entities of the batch (flat).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.export.serving_base import TaskServingModule, strings_spec
from bert_tf.graph_ops import (
    char_offsets,
    dense_index,
    gather_padded,
    lookup,
    max_row_length,
    row_ids,
    shift_left,
    shift_right,
    string_table,
    vector,
)
from bert_tf.text.tokenizer import BertTokenizer

__all__ = ["TokenClassifierServing"]


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
    for invalid UTF-8 see `bert_tf.graph_ops.char_offsets`.

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
      **kwargs: `TaskServingModule` arguments (`truncator`, `vocab_path`).
    """

    task = "ner"

    def __init__(
        self,
        model: keras.Model,
        tokenizer: BertTokenizer,
        seq_length: int,
        labels: Sequence[str],
        **kwargs,
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
        super().__init__(model, tokenizer, seq_length, **kwargs)
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
        return self.tag(vector(text))

    def tag(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        """The outputs of `serving_default` (see the class docstring)."""
        batch = tf.shape(text)[0]
        seq = self.seq_length
        ids, starts, ends = self._tokenizer.tokenize_with_offsets(text)
        flat_ids = ids.flat_values  # [N] every piece of the batch.
        splits = tf.cast(ids.row_splits, tf.int32)  # [B + 1]
        num = tf.shape(flat_ids)[0]
        rows = row_ids(splits, num)  # [N]
        in_row = tf.range(num) - tf.gather(splits, rows)  # [N]
        to_chars = char_offsets(text)
        char_starts = to_chars(rows, starts.flat_values)  # [N]
        char_ends = to_chars(rows, ends.flat_values)  # [N]

        inputs = self.pack_ids(ids)
        logits = tf.cast(self.model(inputs, training=False), tf.float32)
        probs = tf.nn.softmax(logits, axis=-1)  # [B, S, C]
        best = tf.reshape(tf.argmax(logits, axis=-1, output_type=tf.int32), [-1])  # [B * S]
        best_prob = tf.reshape(tf.reduce_max(probs, axis=-1), [-1])  # [B * S]
        # Piece j of a row sits at position j + 1 (after [CLS]) if j < S - 2.
        labelled = in_row < seq - 2  # [N]
        position = tf.where(labelled, rows * seq + in_row + 1, 0)  # [N]
        label_ids = tf.where(labelled, tf.gather(best, position), -1)  # [N]
        scores = tf.where(labelled, tf.gather(best_prob, position), 0.0)

        label_names = string_table(self.labels)  # [C + 1]
        vocab = string_table(self._tokenizer.vocabulary)  # [V + 1]
        width = max_row_length(splits)
        index = dense_index(rows, in_row, batch, width)  # [B, T]
        outputs = {
            "tokens": lookup(vocab, gather_padded(flat_ids, index, -1)),
            "token_labels": lookup(label_names, gather_padded(label_ids, index, -1)),
            "token_label_ids": gather_padded(label_ids, index, -1),
            "token_scores": gather_padded(scores, index, 0.0),
            "token_starts": gather_padded(char_starts, index, -1),
            "token_ends": gather_padded(char_ends, index, -1),
            "num_tokens": splits[1:] - splits[:-1],
        }
        outputs.update(
            self._entities(
                text,
                batch,
                flat_ids=flat_ids,
                rows=rows,
                label_ids=label_ids,
                scores=scores,
                byte_starts=starts.flat_values,
                byte_ends=ends.flat_values,
                to_chars=to_chars,
            )
        )
        return outputs

    def _entities(
        self,
        text,
        batch,
        *,
        flat_ids,
        rows,
        label_ids,
        scores,
        byte_starts,
        byte_ends,
        to_chars,
    ) -> dict[str, tf.Tensor]:
        """Entities from the word-level IOB2 tags (get_entities' rules).

        Takes `tag`'s flat [N] per-piece tensors (and its offset converter)
        by keyword. W = words in the batch (flat), E' = entities in the batch (flat).
        """
        num = tf.shape(flat_ids)[0]
        num_classes = len(self.labels)
        starts_word = tf.gather(self._starts_word, flat_ids)  # [N]
        first = tf.reshape(tf.where(starts_word), [-1])  # [W] first pieces.
        first = tf.cast(first, tf.int32)
        last = shift_left(first, num) - 1  # [W] last pieces.
        word_rows = tf.gather(rows, first)  # [W]
        word_label = tf.gather(label_ids, first)  # [W], -1: no label.
        word_label = tf.where(word_label < 0, num_classes, word_label)
        kind = tf.gather(self._label_kind, word_label)  # [W]
        type_ = tf.gather(self._label_type, word_label)  # [W]
        word_scores = tf.gather(scores, first)  # [W]

        # Previous / next word of the same row (a row's first word follows an
        # O of no type; its last word precedes the final O).
        new_row = word_rows != shift_right(word_rows, -1)  # [W]
        row_end = word_rows != shift_left(word_rows, -1)  # [W]
        prev_kind = tf.where(new_row, _KIND_O, shift_right(kind, _KIND_O))
        prev_type = tf.where(new_row, -1, shift_right(type_, -1))
        next_kind = tf.where(row_end, _KIND_O, shift_left(kind, _KIND_O))
        next_type = tf.where(row_end, -1, shift_left(type_, -1))
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
        index = dense_index(entity_rows, in_row, batch, max_row_length(entity_splits))  # [B, E]
        # Texts cut from the input by byte offsets, straight into the padded
        # [B, E] layout (a padding slot cuts [0, 0): ""). The op takes int32
        # offsets and int64 row splits.
        dense_begin = gather_padded(byte_begin, index, 0)  # [B, E]
        dense_end = gather_padded(byte_end, index, 0)  # [B, E]
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
            "entity_types": lookup(
                string_table(self.entity_type_names),
                gather_padded(entity_types, index, -1),
            ),
            "entity_texts": tf.reshape(texts.flat_values, [batch, width]),
            "entity_starts": gather_padded(to_chars(entity_rows, byte_begin), index, -1),
            "entity_ends": gather_padded(to_chars(entity_rows, byte_end), index, -1),
            "entity_scores": gather_padded(entity_scores, index, 0.0),
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
