"""Dynamic masked-LM masking of packed BERT inputs, in the graph.

`BertMaskedLmMasker` takes packed rows (`input_word_ids`, `input_mask`, ...)
and applies BERT's masking procedure: select `masked_lm_prob` of the
non-special tokens (at least one, at most `max_predictions_per_seq`); of the
selected tokens, `mask_token_rate` become `[MASK]`, `random_token_rate` a
random id from the whole vocabulary (as the original), the rest stay as they
are. `[CLS]`, `[SEP]`, `[PAD]` and positions outside `input_mask` are never
selected. With `whole_word_mask=True` all pieces of a word (a word-start
token and the `##` pieces that follow it) are selected together, and words
are taken until the token budget is reached, as in google-research/bert.

Why not TF-Text's `mask_language_model` + `RandomItemSelector` +
`MaskValuesChooser`: they draw from stateful random ops (`tf.random.shuffle`,
`tf.random.uniform`), so under a parallel `tf.data` map the masks depend on
thread scheduling, cannot be reproduced from a seed, and differ between the
workers of a multi-worker job; they also run a `map_fn` per row and count
whole words rather than tokens against the budget. This layer uses stateless
random ops driven by an explicit seed and dense [B, S] arithmetic, so the
same seed always gives the same masks (resumable, identical on every worker),
while a new seed per batch and epoch gives dynamic masking.

Dimensions: B = batch, S = sequence length, P = `max_predictions_per_seq`,
V = vocabulary size.
"""

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from bert_tf.text import vocab_io
from bert_tf.text.tokenizer import TextLayer

__all__ = ["BertMaskedLmMasker", "MASKED_LM_FEATURES"]

# The features a masker adds to its inputs (google-research/bert names).
MASKED_LM_FEATURES = (
    "masked_lm_positions",
    "masked_lm_ids",
    "masked_lm_weights",
)

_INT32_MAX = np.iinfo(np.int32).max


@keras.saving.register_keras_serializable(package="bert_tf")
class BertMaskedLmMasker(TextLayer):
    """BERT's masked-LM procedure on packed rows, reproducible under a seed.

    Args:
      vocabulary: a `vocab.txt` path or a list of tokens (line i = id i); it
        must hold `[MASK]` and the `unselectable_tokens`.
      masked_lm_prob: fraction of the selectable tokens of a row to predict
        (`round(n * masked_lm_prob)`, at least 1 when n > 0).
      max_predictions_per_seq: P, the most predictions per row; the
        `masked_lm_*` outputs are padded to P.
      mask_token_rate: fraction of the selected tokens replaced by `[MASK]`.
      random_token_rate: fraction replaced by a uniformly random id in [0, V).
      whole_word_mask: select all pieces of a word together.
      unselectable_tokens: tokens never selected; default `[CLS]`, `[SEP]`,
        `[PAD]`. Positions where `input_mask` is 0 are never selected either.
      suffix_indicator: prefix of word-continuation pieces (`##`).
      **kwargs: Keras layer arguments.

    Call arguments:
      inputs: a dict with `input_word_ids` [B, S] int and optionally
        `input_mask` [B, S] (1 for real tokens; default `ids != [PAD]`); other
        entries (`input_type_ids`, labels, ...) are passed through.
      seed: int32/int64 [2] stateless seed. None draws one from the global
        generator (not reproducible; pass seeds in input pipelines).

    Returns:
      The input dict with `input_word_ids` masked and `masked_lm_positions`
      [B, P] int32, `masked_lm_ids` [B, P] int32 (original ids, 0 where
      unused) and `masked_lm_weights` [B, P] float32 (1.0 for real
      predictions) added.

    Example:

    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "##c"]
    >>> masker = BertMaskedLmMasker(vocab, masked_lm_prob=0.5,
    ...                             max_predictions_per_seq=3)
    >>> ids = tf.constant([[2, 5, 6, 7, 5, 3, 0, 0]])
    >>> out = masker({"input_word_ids": ids}, seed=[1, 2])
    >>> int(out["masked_lm_weights"].numpy().sum())  # round(4 * 0.5)
    2
    """

    def __init__(
        self,
        vocabulary: str | Sequence[str],
        masked_lm_prob: float = 0.15,
        max_predictions_per_seq: int = 20,
        mask_token_rate: float = 0.8,
        random_token_rate: float = 0.1,
        whole_word_mask: bool = False,
        unselectable_tokens: Sequence[str] | None = None,
        suffix_indicator: str = "##",
        **kwargs,
    ):
        super().__init__(**kwargs)
        source = vocabulary if isinstance(vocabulary, str) else "vocabulary"
        tokens = vocab_io.as_token_list(vocabulary)
        if not 0.0 < masked_lm_prob <= 1.0:
            raise ValueError(f"masked_lm_prob must be in (0, 1], got {masked_lm_prob!r}")
        if (
            not isinstance(max_predictions_per_seq, (int, np.integer))
            or max_predictions_per_seq < 1
        ):
            raise ValueError(
                f"max_predictions_per_seq must be a positive int, got {max_predictions_per_seq!r}"
            )
        if (
            mask_token_rate < 0
            or random_token_rate < 0
            or mask_token_rate + random_token_rate > 1.0
        ):
            raise ValueError(
                "mask_token_rate and random_token_rate must be >= 0 with a sum <= 1, "
                f"got {mask_token_rate!r} and {random_token_rate!r}"
            )
        if unselectable_tokens is None:
            unselectable_tokens = (vocab_io.CLS, vocab_io.SEP, vocab_io.PAD)
        token_to_id = {t: i for i, t in enumerate(tokens)}
        missing = [t for t in [vocab_io.MASK, *unselectable_tokens] if t not in token_to_id]
        if missing:
            raise ValueError(
                f"{source}: the vocabulary lacks {missing}, which masked-LM masking needs"
            )
        self.vocabulary = tokens
        self.masked_lm_prob = float(masked_lm_prob)
        self.max_predictions_per_seq = int(max_predictions_per_seq)
        self.mask_token_rate = float(mask_token_rate)
        self.random_token_rate = float(random_token_rate)
        self.whole_word_mask = bool(whole_word_mask)
        self.unselectable_tokens = list(unselectable_tokens)
        self.suffix_indicator = suffix_indicator

        self.mask_id = token_to_id[vocab_io.MASK]
        self.pad_id = token_to_id.get(vocab_io.PAD, 0)
        self.unselectable_ids = [token_to_id[t] for t in self.unselectable_tokens]
        unselectable = np.zeros(len(tokens), bool)
        unselectable[self.unselectable_ids] = True
        # A word starts at every token that is not a `##` continuation piece.
        starts_word = np.array(
            [
                not (suffix_indicator and t.startswith(suffix_indicator) and t != suffix_indicator)
                for t in tokens
            ]
        )
        self._unselectable_table = tf.constant(unselectable)  # [V]
        self._starts_word_table = tf.constant(starts_word)  # [V]

    def vocabulary_size(self) -> int:
        """V, the range of the random replacement ids."""
        return len(self.vocabulary)

    def call(self, inputs: dict[str, tf.Tensor], seed=None):
        if not isinstance(inputs, dict) or "input_word_ids" not in inputs:
            raise TypeError(
                "inputs must be a dict with 'input_word_ids' [batch, "
                f"seq_length], got {type(inputs).__name__}"
            )
        ids = tf.cast(inputs["input_word_ids"], tf.int32)
        if ids.shape.rank != 2:
            raise ValueError(f"input_word_ids must be [batch, seq_length], got shape {ids.shape}")
        if "input_mask" in inputs:
            in_row = tf.cast(inputs["input_mask"], tf.bool)
        else:
            in_row = ids != self.pad_id
        if seed is None:
            seed = tf.random.uniform([2], maxval=_INT32_MAX, dtype=tf.int32)
        seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
        select_seed, choose_seed, random_id_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 3)
        )

        vocab_size = len(self.vocabulary)
        shape = tf.shape(ids)
        batch, seq_length = shape[0], shape[1]
        safe_ids = tf.clip_by_value(ids, 0, vocab_size - 1)
        selectable = in_row & ~tf.gather(self._unselectable_table, safe_ids)

        # Word index of every token within its row [B, S]. Special tokens and
        # their neighbours always start a word, so a word is either wholly
        # selectable or not at all.
        if self.whole_word_mask:
            previous = tf.pad(selectable[:, :-1], [[0, 0], [1, 0]])
            starts = tf.gather(self._starts_word_table, safe_ids) | ~selectable | ~previous
        else:
            starts = tf.ones_like(selectable)
        word = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1  # [B, S]

        # A random priority per word; ties are broken by the word index so the
        # pieces of one word stay adjacent in the sorted order.
        noise = tf.random.stateless_uniform(shape, select_seed)  # [B, S]
        priority = (
            tf.cast(tf.gather(noise, word, batch_dims=1), tf.float64)
            + tf.cast(word, tf.float64) * 2.0**-40
        )
        priority = tf.where(selectable, priority, 2.0)  # [B, S]
        order = tf.argsort(priority, axis=1, stable=True)  # [B, S]

        num_selectable = tf.reduce_sum(tf.cast(selectable, tf.int32), axis=1)
        budget = tf.cast(
            tf.round(tf.cast(num_selectable, tf.float64) * self.masked_lm_prob),
            tf.int32,
        )
        budget = tf.minimum(tf.maximum(budget, 1), self.max_predictions_per_seq)
        budget = tf.where(num_selectable > 0, budget, 0)  # [B]

        # Tokens selected so far when each word (in priority order) is complete;
        # a word is taken iff that count stays within the budget.
        sorted_selectable = tf.gather(tf.cast(selectable, tf.int32), order, batch_dims=1)  # [B, S]
        count_through = tf.cumsum(sorted_selectable, axis=1)  # [B, S]
        sorted_word = tf.gather(word, order, batch_dims=1)  # [B, S]
        row = tf.range(batch)[:, tf.newaxis]  # [B, 1]
        word_total = tf.math.unsorted_segment_max(
            tf.reshape(count_through, [-1]),
            tf.reshape(row * seq_length + sorted_word, [-1]),
            batch * seq_length,
        )
        word_total = tf.reshape(word_total, shape)  # [B, S]: per (row, word).
        selected = selectable & (
            tf.gather(word_total, word, batch_dims=1) <= budget[:, tf.newaxis]
        )  # [B, S]

        # 80 / 10 / 10, decided per token as in the original.
        choice = tf.random.stateless_uniform(shape, choose_seed)
        random_ids = tf.random.stateless_uniform(
            shape, random_id_seed, minval=0, maxval=vocab_size, dtype=tf.int32
        )
        masked_ids = tf.where(
            selected & (choice < self.mask_token_rate),
            self.mask_id,
            tf.where(
                selected & (choice < self.mask_token_rate + self.random_token_rate),
                random_ids,
                ids,
            ),
        )

        # Selected positions in increasing order, padded to P with weight 0.
        num_predictions = self.max_predictions_per_seq
        positions = tf.range(seq_length)[tf.newaxis]  # [1, S]
        keys = tf.sort(tf.where(selected, positions, seq_length + positions), axis=1)  # [B, S]
        keys = tf.pad(
            keys,
            [[0, 0], [0, tf.maximum(num_predictions - seq_length, 0)]],
            constant_values=2 * seq_length,
        )[:, :num_predictions]
        valid = keys < seq_length  # [B, P]
        masked_lm_positions = tf.where(valid, keys, 0)
        masked_lm_ids = tf.where(valid, tf.gather(ids, masked_lm_positions, batch_dims=1), 0)

        outputs = dict(inputs)
        outputs["input_word_ids"] = tf.cast(masked_ids, inputs["input_word_ids"].dtype)
        outputs["masked_lm_positions"] = masked_lm_positions
        outputs["masked_lm_ids"] = masked_lm_ids
        outputs["masked_lm_weights"] = tf.cast(valid, tf.float32)
        return outputs

    def compute_output_spec(self, inputs, seed=None):
        raise NotImplementedError(
            "BertMaskedLmMasker is an input-pipeline layer; call it in tf.data or a tf.function"
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": list(self.vocabulary),
                "masked_lm_prob": self.masked_lm_prob,
                "max_predictions_per_seq": self.max_predictions_per_seq,
                "mask_token_rate": self.mask_token_rate,
                "random_token_rate": self.random_token_rate,
                "whole_word_mask": self.whole_word_mask,
                "unselectable_tokens": list(self.unselectable_tokens),
                "suffix_indicator": self.suffix_indicator,
            }
        )
        return config
