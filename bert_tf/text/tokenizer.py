"""BERT's WordPiece tokenizer as a Keras layer made of TF-Text ops.

The layer runs the original BERT algorithm (google-research/bert
`FullTokenizer`): clean text, split CJK ideographs, split on whitespace and
punctuation (ASCII symbols included), lower-case + NFD + strip accents when
uncased, greedy longest-match-first WordPiece with `##` continuations, and
`[UNK]` for a word longer than `max_chars_per_word` characters. It is built
only from ops that exist in TensorFlow, in TF Serving (which links TF-Text)
and in TFLite (TF-Text's custom-op kernels plus builtins):

- `FastBertNormalize`, fed a table compiled from BERT's own normalization
  (`bert_tf.text.normalizer`), instead of the stock ICU case-folding table;
- `FastWordpieceTokenize` with BERT's pre-tokenization;
- dense builtin ops for the long-word rule (the op counts bytes, BERT counts
  characters).

Dimensions: B = batch of strings, T = tokens in the whole batch (flat).
"""

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.text import normalizer, vocab_io

# UTF-8 takes at most 4 bytes per character: a word of more bytes than this
# many times `max_chars_per_word` is over the limit whatever it holds.
_MAX_UTF8_BYTES_PER_CHAR = 4


class TextLayer(keras.layers.Layer):
    """Base of the string-processing layers: inputs stay `tf.Tensor`s.

    Like keras-hub's preprocessing layers, these layers take `tf.string` tensors
    (or Python strings) and run TF ops whatever the Keras backend.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        # As keras-hub's PreprocessingLayer: keep tf tensors, accept Python text.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True


def as_string_batch(inputs, name: str = "inputs") -> tuple[tf.Tensor, bool]:
    """Checks and converts text input to a `tf.string` vector.

    Args:
      inputs: a string, a list of strings, or a `tf.string` tensor of rank 0 or
        1.
      name: what to call the input in error messages.

    Returns:
      `(strings [B], was_scalar)`.

    Raises:
      TypeError: the input is not text, naming its dtype.
      ValueError: the input has rank > 1, naming its shape.
    """
    if isinstance(inputs, tf.RaggedTensor):
        raise ValueError(
            f"{name} must be a string scalar or vector, got a RaggedTensor of shape {inputs.shape}"
        )
    if not isinstance(inputs, tf.Tensor):
        try:
            inputs = tf.convert_to_tensor(inputs)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must be text, got {type(inputs).__name__}: {e}") from None
    if inputs.dtype != tf.string:
        raise TypeError(
            f"{name} must be tf.string, got dtype {inputs.dtype.name} (shape {inputs.shape})"
        )
    rank = inputs.shape.rank
    if rank is None:
        raise ValueError(f"{name} must have a known rank (0 or 1)")
    if rank > 1:
        raise ValueError(
            f"{name} must be a string scalar or vector [batch], got shape {inputs.shape}"
        )
    if rank == 0:
        return tf.reshape(inputs, [1]), True
    return inputs, False


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTokenizer(TextLayer):
    """Original-BERT WordPiece tokenization, in the graph.

    Args:
      vocabulary: a `vocab.txt` path or a list of tokens (line i = id i). It is
        kept in the layer's config, so the layer never needs the file again.
      lower_case: whether the model is uncased (`do_lower_case`). Required: a
        casing is never guessed. A casing that contradicts the vocabulary (an
        uncased tokenizer on a vocabulary with upper-case tokens, say) raises.
      max_chars_per_word: words (after punctuation splitting) longer than this
        many characters become `unknown_token`, as in the original (200).
      unknown_token: the token for words the vocabulary cannot cover.
      suffix_indicator: the prefix of word-continuation pieces.
      **kwargs: Keras layer arguments (`name`, ...).

    Call arguments:
      inputs: `tf.string` scalar or vector [B] (or Python strings).

    Returns:
      `tf.RaggedTensor` of int32 token ids, shape [B, (tokens)] (or [(tokens)]
      for a scalar).

    Example:
    >>> tokenizer = BertTokenizer(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox", "jump",
    ...      "##ed", "."], lower_case=True)
    >>> tokenizer(["The fox jumped."]).to_list()
    [[5, 6, 7, 8, 9]]
    """

    def __init__(
        self,
        vocabulary: str | Sequence[str],
        lower_case: bool,
        max_chars_per_word: int = 200,
        unknown_token: str = vocab_io.UNK,
        suffix_indicator: str = "##",
        **kwargs,
    ):
        super().__init__(**kwargs)
        source = vocabulary if isinstance(vocabulary, str) else "vocabulary"
        tokens = vocab_io.as_token_list(vocabulary)
        if not isinstance(lower_case, bool):
            raise TypeError(f"lower_case must be True or False, got {lower_case!r}")
        if not isinstance(max_chars_per_word, int) or max_chars_per_word < 1:
            raise ValueError(
                f"max_chars_per_word must be a positive int, got {max_chars_per_word!r}"
            )
        if unknown_token not in tokens:
            raise ValueError(f"{source}: unknown_token {unknown_token!r} is not in the vocabulary")
        vocab_io.check_casing(tokens, lower_case, source=source)
        self.vocabulary = tokens
        self.lower_case = lower_case
        self.max_chars_per_word = max_chars_per_word
        self.unknown_token = unknown_token
        self.suffix_indicator = suffix_indicator

        self._token_to_id = {t: i for i, t in enumerate(tokens)}
        # FastBertTokenizer's two stages, held separately so that offsets can
        # be mapped back with TFLite-friendly ops (see `_tokenize`).
        self._normalizer = tf_text.FastBertNormalizer(
            model_buffer=normalizer.build_normalizer_model(lower_case)
        )
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=tokens,
            suffix_indicator=suffix_indicator,
            max_bytes_per_word=_MAX_UTF8_BYTES_PER_CHAR * max_chars_per_word,
            token_out_type=tf.int32,
            unknown_token=unknown_token,
            no_pretokenization=False,  # BERT's punctuation/space splitting.
            support_detokenization=True,
        )
        # Per token id: characters of the piece without its `##`, and whether it
        # starts a word. [V]
        piece_chars = np.zeros(len(tokens), np.int32)
        starts_word = np.ones(len(tokens), np.int32)
        for i, token in enumerate(tokens):
            if (
                suffix_indicator
                and token.startswith(suffix_indicator)
                and token != suffix_indicator
            ):
                starts_word[i] = 0
                piece_chars[i] = len(token) - len(suffix_indicator)
            else:
                piece_chars[i] = len(token)
        self._piece_chars = tf.constant(piece_chars)
        self._starts_word = tf.constant(starts_word)
        # A word of more than `max_chars_per_word` characters has at least
        # this many pieces, so a batch without such a run of pieces skips the
        # long-word rule (see `_may_have_long_words`).
        self._min_long_word_pieces = -(-(max_chars_per_word + 1) // max(int(piece_chars.max()), 1))
        self._unknown_id = tf.constant(self._token_to_id[unknown_token], tf.int32)

    # ---- Vocabulary access (keras-hub's tokenizer API) ----

    def vocabulary_size(self) -> int:
        """The number of tokens in the vocabulary."""
        return len(self.vocabulary)

    def get_vocabulary(self) -> list:
        """The tokens, in id order."""
        return list(self.vocabulary)

    def id_to_token(self, token_id: int) -> str:
        """The token of an id."""
        if not 0 <= token_id < len(self.vocabulary):
            raise ValueError(
                f"token id {token_id} is outside the vocabulary [0, {len(self.vocabulary)})"
            )
        return self.vocabulary[token_id]

    def token_to_id(self, token: str) -> int:
        """The id of a token."""
        if token not in self._token_to_id:
            raise ValueError(f"token {token!r} is not in the vocabulary")
        return self._token_to_id[token]

    def special_token_ids(self) -> dict:
        """Ids of `[PAD] [UNK] [CLS] [SEP] [MASK]` present in the vocabulary.

        Keys follow the TF Hub preprocessor's `get_special_tokens_dict()`.
        """
        names = {
            vocab_io.PAD: "padding_id",
            vocab_io.UNK: "unknown_id",
            vocab_io.CLS: "start_of_sequence_id",
            vocab_io.SEP: "end_of_segment_id",
            vocab_io.MASK: "mask_id",
        }
        return {names[t]: self._token_to_id[t] for t in names if t in self._token_to_id}

    def require_special_tokens(self, tokens: Sequence[str], purpose: str) -> dict:
        """Ids of `tokens`, or a ValueError naming those the vocab lacks.

        Args:
          tokens: e.g. `("[CLS]", "[SEP]", "[PAD]")`.
          purpose: what needs them, for the message (e.g. `"packing"`).

        Returns:
          token → id.
        """
        missing = [t for t in tokens if t not in self._token_to_id]
        if missing:
            raise ValueError(f"the vocabulary lacks {missing}, which {purpose} needs")
        return {t: self._token_to_id[t] for t in tokens}

    # ---- Tokenization ----

    def call(self, inputs):
        return self.tokenize(inputs)

    def tokenize(self, inputs) -> tf.RaggedTensor:
        """Token ids, [B, (tokens)] int32 (see the class docstring)."""
        ids, _, _ = self._tokenize(inputs, with_offsets=False)
        return ids

    def tokenize_with_offsets(
        self, inputs
    ) -> tuple[tf.RaggedTensor, tf.RaggedTensor, tf.RaggedTensor]:
        """Token ids with UTF-8 byte offsets into each input string.

        Returns:
          `(ids, starts, ends)`, each [B, (tokens)]: token j of string b covers
          `inputs[b][starts[b, j]:ends[b, j]]` (bytes). A word longer than
          `max_chars_per_word` is one `[UNK]` covering the whole word.
        """
        return self._tokenize(inputs, with_offsets=True)

    def _tokenize(self, inputs, with_offsets: bool):
        strings, was_scalar = as_string_batch(inputs)
        if with_offsets:
            ids, starts, ends = self._tokenize_with_input_offsets(strings)
        else:
            ids, starts, ends = (
                self._wordpiece.tokenize(self._normalizer.normalize(strings)),
                None,
                None,
            )
        # The exact long-word rule costs about a fifth of tokenization; the
        # cheap test skips it for batches that cannot hold such a word.
        flat = [ids.flat_values, ids.row_splits]
        if with_offsets:
            flat += [starts.flat_values, ends.flat_values]
        flat = tf.cond(
            self._may_have_long_words(ids.flat_values),
            lambda: list(self._unk_long_words(*flat))[: len(flat)],
            lambda: flat,
        )
        flat_ids, row_splits = flat[:2]
        flat_starts, flat_ends = flat[2:] if with_offsets else (None, None)

        def rebuild(values):
            rt = tf.RaggedTensor.from_row_splits(values, row_splits, validate=False)
            return rt[0] if was_scalar else rt

        ids = rebuild(flat_ids)
        if not with_offsets:
            return ids, None, None
        return (
            ids,
            rebuild(tf.cast(flat_starts, tf.int64)),
            rebuild(tf.cast(flat_ends, tf.int64)),
        )

    def _tokenize_with_input_offsets(self, strings):
        """Ids and int32 byte offsets into the input strings.

        The normalizer reports, for each byte of its output, the offset in
        the input; a piece's offsets are looked up there. TF-Text's
        FastBertTokenizer does this with a ragged batch gather (RaggedRange,
        which TFLite lacks); here it is one flat gather at each row's base.
        Offsets stay int32 (TFLite's UNSORTED_SEGMENT_MAX has no int64
        kernel) until `_tokenize` casts them.

        Returns:
          `(ids, starts, ends)`: ragged [B, (T)] ids and input byte offsets.
        """
        normalized, offsets = self._normalizer.normalize_with_offsets(strings)
        ids, starts, ends = self._wordpiece.tokenize_with_offsets(normalized)
        num_tokens = tf.shape(ids.flat_values)[0]
        # Row of each token: +1 at each row boundary, then a running sum.
        boundaries = tf.cast(ids.row_splits[1:-1, tf.newaxis], tf.int32)
        rows = tf.cumsum(
            tf.scatter_nd(boundaries, tf.ones_like(boundaries[:, 0]), [num_tokens + 1])
        )[:num_tokens]  # [T]
        base = tf.gather(tf.cast(offsets.row_splits, tf.int32), rows)  # [T]
        table = tf.cast(offsets.flat_values, tf.int32)  # [all bytes + rows]

        def to_input(normalized_offsets):
            return tf.RaggedTensor.from_row_splits(
                tf.gather(
                    table,
                    base + tf.cast(normalized_offsets.flat_values, tf.int32),
                ),
                ids.row_splits,
                validate=False,
            )

        return ids, to_input(starts), to_input(ends)

    def _may_have_long_words(self, ids: tf.Tensor) -> tf.Tensor:
        """False when no word in `ids` can be over `max_chars_per_word`.

        Such a word has at least `_min_long_word_pieces` pieces (no piece is
        longer than the vocabulary's longest), so at least that many minus one
        `##` pieces in a row. The runs are found by doubling: `runs[i]` says
        whether pieces i .. i + length - 1 all continue a word, and each step
        doubles `length` (the last adds what is left). A few dense ops on
        [T] instead of the rule's two cumsums and four gathers.

        Args:
          ids: [T] int32 flat token ids of the batch.

        Returns:
          A bool scalar: True when the exact rule must run.
        """
        needed = self._min_long_word_pieces - 1  # `##` pieces in a row.
        if needed < 1:
            return tf.constant(True)
        runs = tf.equal(tf.gather(self._starts_word, ids), 0)  # [T]
        length = 1
        while length < needed:
            step = min(length, needed - length)
            runs = tf.logical_and(runs[:-step], runs[step:])  # [T - length - step + 1]
            length += step
        return tf.reduce_any(runs)

    def _unk_long_words(self, ids, row_splits, starts=None, ends=None):
        """Turns every word longer than `max_chars_per_word` into one `[UNK]`.

        FastWordpiece's own limit counts UTF-8 bytes; BERT counts characters.
        Only dense builtin ops are used, so this also runs in TFLite.

        Args:
          ids: [T] int32 flat token ids of the batch.
          row_splits: [B + 1] int64 row partition of `ids`.
          starts: [T] start offsets or None.
          ends: [T] end offsets or None.

        Returns:
          `(ids, row_splits, starts, ends)` with the long words collapsed.
        """
        num_tokens = tf.shape(ids)[0]
        starts_word = tf.gather(self._starts_word, ids)  # [T]
        word_index = tf.cumsum(starts_word) - 1  # [T]: word of each token.
        word_chars = tf.math.unsorted_segment_sum(
            tf.gather(self._piece_chars, ids), word_index, num_tokens
        )  # [T]
        too_long = tf.gather(word_chars, tf.maximum(word_index, 0)) > (
            self.max_chars_per_word
        )  # [T]
        keep = tf.logical_or(tf.cast(starts_word, tf.bool), tf.logical_not(too_long))  # [T]
        ids = tf.where(too_long, self._unknown_id, ids)
        kept_before = tf.concat(
            [tf.zeros([1], tf.int64), tf.cumsum(tf.cast(keep, tf.int64))],
            axis=0,
        )  # [T + 1]
        row_splits = tf.gather(kept_before, row_splits)  # [B + 1]
        if ends is not None:
            word_end = tf.math.unsorted_segment_max(ends, word_index, num_tokens)
            ends = tf.where(too_long, tf.gather(word_end, tf.maximum(word_index, 0)), ends)
        keep_index = tf.reshape(tf.where(keep), [-1])  # [T']
        ids = tf.gather(ids, keep_index)
        if starts is not None:
            starts = tf.gather(starts, keep_index)
            ends = tf.gather(ends, keep_index)
        return ids, row_splits, starts, ends

    def detokenize(self, token_ids) -> tf.Tensor:
        """Joins pieces back into words separated by spaces.

        Lossy, as in the original: casing, accents and spacing around punctuation
        are not restored.

        Args:
          token_ids: int ids, [B, (tokens)] ragged or dense, or [tokens].

        Returns:
          `tf.string`, [B] (or a scalar for a vector of ids).
        """
        if not isinstance(token_ids, tf.RaggedTensor):
            token_ids = tf.convert_to_tensor(token_ids)
        if not token_ids.dtype.is_integer:
            raise TypeError(f"token_ids must be integers, got {token_ids.dtype.name}")
        if token_ids.shape.rank == 1:
            return self._wordpiece.detokenize(token_ids[tf.newaxis])[0]
        return self._wordpiece.detokenize(token_ids)

    def compute_output_spec(self, inputs):
        # Ragged outputs cannot be described by a KerasTensor; functional models
        # use `BertPreprocessor`, whose outputs are dense.
        raise NotImplementedError(
            "BertTokenizer returns ragged ids; use it in tf.data or tf.function, "
            "or use BertPreprocessor for dense model inputs"
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": list(self.vocabulary),
                "lower_case": self.lower_case,
                "max_chars_per_word": self.max_chars_per_word,
                "unknown_token": self.unknown_token,
                "suffix_indicator": self.suffix_indicator,
            }
        )
        return config
