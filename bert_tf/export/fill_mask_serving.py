"""Fill-mask on raw strings: the masked LM's top-k tokens at each `[MASK]`.

`FillMaskServing` is a `TaskServingModule` (see `serving_base`) around a
`BertPretrainer`: `serving_default` takes `text` [B] in which the literal
`[MASK]` marks the tokens to predict, finds each `[MASK]` in the input's
bytes (BERT's tokenizer splits it on its brackets), packs the text with one
`[MASK]` id there and returns the top-k candidates per mask. Its `token_ids`
signature takes `masked_lm_positions` besides the three BERT inputs.

Dimension legend: B = batch, S = sequence, V = vocabulary, M = `[MASK]`
tokens per text (padded), K = top-k, L = bytes of the batch (flat), N =
word-pieces of the batch (flat).
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.export.serving_base import TaskServingModule, strings_spec
from bert_tf.graph_ops import dense_index, gather_padded, lookup, row_ids, string_table, vector
from bert_tf.text.tokenizer import BertTokenizer

__all__ = ["MASK_TEXT", "FillMaskServing"]

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
      **kwargs: `TaskServingModule` arguments (`truncator`, `vocab_path`).
    """

    task = "fill_mask"

    def __init__(
        self,
        model: keras.Model,
        tokenizer: BertTokenizer,
        seq_length: int,
        top_k: int = 5,
        **kwargs,
    ):
        tokenizer.require_special_tokens([MASK_TEXT], "fill-mask")
        if not isinstance(top_k, int) or not 1 <= top_k <= len(tokenizer.vocabulary):
            raise ValueError(
                f"top_k must be an int in [1, {len(tokenizer.vocabulary)}], got {top_k!r}"
            )
        super().__init__(model, tokenizer, seq_length, **kwargs)
        self.top_k = top_k
        self._mask_bytes = tf.constant(list(MASK_TEXT.encode()), tf.int32)
        self.serve = tf.function(self._serve, input_signature=[strings_spec("text")])

    def extra_token_id_inputs(self) -> dict[str, tf.TensorSpec]:
        """`masked_lm_positions` [B, M] int32, the masked-LM head's input."""
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
        byte_rows = row_ids(byte_splits, num_bytes)  # [L]
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
        rows = row_ids(splits, num)  # [N]
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
        text = vector(text)
        special = self.special_ids
        batch = tf.shape(text)[0]
        inputs = self.pack_ids(self._tokenize_with_masks(text))
        is_mask = inputs["input_word_ids"] == special["mask_id"]  # [B, S]
        num_masks = tf.reduce_sum(tf.cast(is_mask, tf.int32), axis=1)  # [B]
        width = tf.reduce_max(tf.concat([num_masks, [0]], axis=0))  # M
        where = tf.cast(tf.where(is_mask), tf.int32)  # [M', 2] (row, position)
        rows, positions = where[:, 0], where[:, 1]
        rank = tf.cumsum(tf.cast(is_mask, tf.int32), axis=1) - 1  # [B, S]
        in_row = tf.gather_nd(rank, where)  # [M']
        index = dense_index(rows, in_row, batch, width)  # [B, M]
        mask_positions = gather_padded(positions, index, -1)  # [B, M]
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
            "top_k_tokens": lookup(string_table(self._tokenizer.vocabulary), top_ids),
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
