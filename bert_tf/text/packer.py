"""Packing 1..N token segments into BERT's fixed-length model inputs.

`[CLS] A [SEP] B [SEP] ... [PAD]...`, with `input_word_ids`, `input_mask` and
`input_type_ids` as TF Hub's BERT preprocessors name them. The segments are
trimmed to fit, round-robin (as TF-Text's `RoundRobinTrimmer`, the default of
keras-hub's `MultiSegmentPacker` and Model Garden's `BertPackInputs`) or
waterfall.

One segment (the common case) is cut and padded by `RaggedTensorToTensor`,
which TF-Text also registers for TFLite, with `[CLS]` and `[SEP]` scattered
in. Several segments are packed from their flat token values and row
splits with TFLite builtin ops only (gather, compare, select): each of the
B * S output positions computes which flat value (or special token) it holds,
then one gather fills them all. Neither needs Flex or ragged ops without a
TFLite kernel (such as `RaggedRange` or `RaggedGather`).

Dimensions: B = batch, S = seq_length, N = number of segments,
K = S - N - 1 = token budget (positions left after the special tokens).
"""

import keras
import tensorflow as tf

from bert_tf.text.tokenizer import TextLayer

TRUNCATORS = ("round_robin", "waterfall")


def _as_segment_list(inputs) -> list[tf.RaggedTensor]:
    if isinstance(inputs, (tf.RaggedTensor, tf.Tensor)):
        inputs = [inputs]
    if isinstance(inputs, dict) or not isinstance(inputs, (list, tuple)):
        raise TypeError(
            "segments must be a RaggedTensor or a list of "
            f"RaggedTensors, got {type(inputs).__name__}"
        )
    if not inputs:
        raise ValueError("segments must hold at least one segment")
    segments = []
    for i, seg in enumerate(inputs):
        if not isinstance(seg, tf.RaggedTensor):
            raise TypeError(
                f"segment {i} must be a RaggedTensor [batch, (tokens)] "
                f"of token ids, got {type(seg).__name__}"
            )
        if seg.shape.rank == 3 and seg.ragged_rank == 2:
            seg = seg.merge_dims(-2, -1)  # [B, (words), (pieces)] -> [B, (tokens)]
        if seg.shape.rank != 2 or seg.ragged_rank != 1:
            raise ValueError(f"segment {i} must have shape [batch, (tokens)], got {seg.shape}")
        if not seg.dtype.is_integer:
            raise TypeError(f"segment {i} must hold integer token ids, got {seg.dtype.name}")
        segments.append(seg)
    return segments


def trimmed_lengths(lengths: tf.Tensor, budget: int, truncator: str) -> tf.Tensor:
    """How many tokens of each segment fit in `budget`.

    Args:
      lengths: [B, N] int32 segment lengths.
      budget: total tokens allowed per row.
      truncator: `"round_robin"`: one token per segment in turn until the budget
        is spent (the first segments get the odd tokens); `"waterfall"`: the
        first segment takes what it needs, then the next, ...

    Returns:
      [B, N] int32 kept lengths.
    """
    if lengths.shape[1] == 1:  # One segment: both truncators just cut it.
        return tf.minimum(lengths, budget)
    if truncator == "waterfall":
        used_before = tf.cumsum(lengths, axis=1, exclusive=True)  # [B, N]
        return tf.clip_by_value(budget - used_before, 0, lengths)
    # Round robin as water filling: the largest level k with
    # sum_i min(len_i, k) <= budget, then the leftover tokens go one each to
    # the first segments longer than k.
    levels = tf.range(budget + 1, dtype=lengths.dtype)  # [K + 1]
    filled = tf.reduce_sum(tf.minimum(lengths[:, :, tf.newaxis], levels), axis=1)  # [B, K + 1]
    level = tf.reduce_sum(tf.cast(filled <= budget, lengths.dtype), axis=1) - 1  # [B]
    level = level[:, tf.newaxis]  # [B, 1]
    base = tf.minimum(lengths, level)  # [B, N]
    leftover = budget - tf.reduce_sum(base, axis=1, keepdims=True)  # [B, 1]
    longer = tf.cast(lengths > level, lengths.dtype)  # [B, N]
    rank = tf.cumsum(longer, axis=1, exclusive=True)  # [B, N]
    extra = longer * tf.cast(rank < leftover, lengths.dtype)
    return base + extra


def pack_segments(
    segments,
    seq_length: int | tf.Tensor,
    start_id: int,
    end_id: int,
    pad_id: int = 0,
    truncator: str = "round_robin",
) -> dict[str, tf.Tensor]:
    """Packs token segments; the function behind `BertPacker`.

    Args:
      segments: a `tf.RaggedTensor` [B, (tokens)] of ids or a list of them;
        ragged rank 2 ([B, (words), (pieces)], as TF Hub tokenizers return) is
        flattened to rank 1.
      seq_length: S, a Python int or an int32 scalar tensor (the SavedModel's
        `bert_pack_inputs` takes it at call time).
      start_id: `[CLS]` id.
      end_id: `[SEP]` id.
      pad_id: `[PAD]` id.
      truncator: `"round_robin"` or `"waterfall"`.

    Returns:
      The dict described in `BertPacker`.
    """
    segments = _as_segment_list(segments)
    num_segments = len(segments)
    if isinstance(seq_length, int) and seq_length < num_segments + 1:
        raise ValueError(
            f"seq_length={seq_length} is too short for "
            f"{num_segments} segments and their special tokens"
        )
    if not isinstance(seq_length, int):  # A tensor: checked when the graph runs.
        check = tf.debugging.assert_greater_equal(
            seq_length,
            num_segments + 1,
            message=f"seq_length is too short for {num_segments} segments and their special tokens",
        )
        with tf.control_dependencies([check]):
            seq_length = tf.identity(seq_length)
    budget = seq_length - num_segments - 1
    batch = segments[0].nrows(out_type=tf.int32)
    for i, seg in enumerate(segments[1:], start=1):
        tf.debugging.assert_equal(
            seg.nrows(out_type=tf.int32),
            batch,
            message=f"segment {i} and segment 0 have different batch sizes",
        )

    if num_segments == 1:
        return _pack_one_segment(segments[0], seq_length, start_id, end_id, pad_id)
    lengths = tf.stack([tf.cast(seg.row_lengths(), tf.int32) for seg in segments], axis=1)  # [B, N]
    kept = trimmed_lengths(lengths, budget, truncator)  # [B, N]

    # Row layout: [CLS] seg_0[:kept_0] [SEP] seg_1[:kept_1] [SEP] ... [PAD]...
    # Each output position reads one id from the segments' flat values,
    # with [PAD], [CLS], [SEP] appended: one dense gather. Scattering the
    # kept tokens instead took 1.5x the ops and about 15% more CPU time
    # (TF's CPU ScatterNd is slow per element; `_pack_one_segment` scatters
    # only the 2B special tokens).
    seg_start = 1 + tf.cumsum(kept + 1, axis=1, exclusive=True)  # [B, N]
    row_length = 1 + tf.reduce_sum(kept + 1, axis=1)  # [B]
    positions = tf.range(seq_length, dtype=tf.int32)[tf.newaxis]  # [1, S]
    values = [tf.cast(seg.values, tf.int32) for seg in segments]
    num_values = tf.add_n([tf.shape(v)[0] for v in values])  # T, all segments.
    table = tf.concat(values + [tf.constant([pad_id, start_id, end_id], tf.int32)], axis=0)
    # Every position starts as [PAD] (index T), position 0 as [CLS] (T + 1).
    source = num_values + tf.cast(positions == 0, tf.int32)  # [1, S]
    offset = 0  # Where segment i's values begin in `table`.
    for i, seg in enumerate(segments):
        start = seg_start[:, i : i + 1]  # [B, 1]
        end = start + kept[:, i : i + 1]  # [B, 1]: the position of its [SEP].
        first = offset + tf.cast(seg.row_splits[:-1], tf.int32)[:, tf.newaxis]  # [B, 1]
        in_segment = tf.logical_and(positions >= start, positions < end)  # [B, S]
        source = tf.where(in_segment, first - start + positions, source)
        source = tf.where(positions == end, num_values + 2, source)
        offset += tf.shape(values[i])[0]
    word_ids = tf.gather(table, source)  # [B, S]

    in_row = positions < row_length[:, tf.newaxis]  # [B, S]
    # Segment i (and its [SEP]) starts at seg_start[:, i].
    type_ids = tf.zeros_like(positions)  # [1, S]
    for i in range(1, num_segments):
        type_ids += tf.cast(positions >= seg_start[:, i : i + 1], tf.int32)
    # The select also makes the output a builtin op's: LiteRT cannot read an
    # empty batch straight from ZEROS_LIKE.
    type_ids = tf.where(in_row, type_ids, 0)  # [B, S]
    return {
        "input_word_ids": word_ids,
        "input_mask": tf.cast(in_row, tf.int32),
        "input_type_ids": type_ids,
    }


def _pack_one_segment(
    segment: tf.RaggedTensor,
    seq_length: int | tf.Tensor,
    start_id: int,
    end_id: int,
    pad_id: int,
) -> dict[str, tf.Tensor]:
    """`pack_segments` for one segment, the common case.

    `RaggedTensorToTensor` cuts and pads in one kernel (TF-Text has its
    TFLite kernel): the tokens, and ones for the mask. `[CLS]` and `[SEP]`
    are added at 2B scattered positions. TF's broadcasting compares and
    selects on [B, S] were the slowest part (profiled on 1024 lines).
    """
    batch = segment.nrows(out_type=tf.int32)
    budget = seq_length - 2  # K
    kept = tf.minimum(tf.cast(segment.row_lengths(), tf.int32), budget)  # [B]
    if isinstance(seq_length, int):
        tokens_shape, out_shape = [None, budget], [None, seq_length]
    else:
        tokens_shape, out_shape = tf.stack([batch, budget]), tf.stack([batch, seq_length])
    tokens = segment.to_tensor(default_value=pad_id, shape=tokens_shape)  # [B, K]
    tokens = tf.cast(tokens, tf.int32)
    # Row layout: [CLS] tokens[:kept] [SEP] [PAD]...: a [PAD] column on each
    # side, then [CLS] and [SEP] added where they go (pad + (special - pad)).
    word_ids = tf.pad(tokens, [[0, 0], [1, 1]], constant_values=pad_id)  # [B, S]
    rows = tf.range(batch)  # [B]
    special_positions = tf.concat(
        [tf.stack([rows, tf.zeros_like(rows)], axis=1), tf.stack([rows, kept + 1], axis=1)],
        axis=0,
    )  # [2B, 2]
    special_deltas = tf.concat(
        [tf.fill([batch], start_id - pad_id), tf.fill([batch], end_id - pad_id)], axis=0
    )  # [2B]
    word_ids += tf.scatter_nd(special_positions, special_deltas, tf.shape(word_ids))
    # The mask: kept + 2 ones a row ([CLS], tokens, [SEP]), padded.
    row_length = kept + 2  # [B]
    in_row = tf.RaggedTensor.from_row_lengths(
        tf.ones([tf.reduce_sum(row_length)], tf.int32), row_length, validate=False
    ).to_tensor(default_value=0, shape=out_shape)  # [B, S]
    # A builtin op makes the output: LiteRT cannot read an empty batch
    # straight from the custom op (nor from ZEROS_LIKE, see `pack_segments`),
    # and TF-Text's RaggedTensorToTensor TFLite kernel has no bool values to
    # cast from.
    input_mask = tf.minimum(in_row, 1)
    return {
        "input_word_ids": word_ids,
        "input_mask": input_mask,
        "input_type_ids": input_mask * 0,  # Not zeros_like: as above.
    }


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPacker(TextLayer):
    """Packs token segments into `input_word_ids`, `input_mask`, `input_type_ids`.

    Args:
      seq_length: the fixed length S of every packed row.
      start_id: id of `[CLS]`.
      end_id: id of `[SEP]`, which closes every segment.
      pad_id: id of `[PAD]`.
      truncator: `"round_robin"` (default) or `"waterfall"`.
      **kwargs: Keras layer arguments.

    Call arguments:
      inputs: one `tf.RaggedTensor` [B, (tokens)] of ids, or a list of N of
        them with the same batch size.

    Returns:
      A dict of three int32 tensors [B, S]: `input_word_ids`, `input_mask`
      (1 for real tokens), `input_type_ids` (segment index, 0 for `[CLS]` and
      padding).

    Example:
    >>> packer = BertPacker(seq_length=8, start_id=101, end_id=102, pad_id=0)
    >>> out = packer([tf.ragged.constant([[5, 6, 7]]),
    ...               tf.ragged.constant([[8, 9, 10, 11]])])
    >>> out["input_word_ids"].numpy().tolist()
    [[101, 5, 6, 7, 102, 8, 9, 102]]
    """

    def __init__(
        self,
        seq_length: int,
        start_id: int,
        end_id: int,
        pad_id: int = 0,
        truncator: str = "round_robin",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(seq_length, int) or seq_length < 2:
            raise ValueError(f"seq_length must be an int >= 2, got {seq_length!r}")
        if truncator not in TRUNCATORS:
            raise ValueError(f"truncator must be one of {TRUNCATORS}, got {truncator!r}")
        self.seq_length = seq_length
        self.start_id = start_id
        self.end_id = end_id
        self.pad_id = pad_id
        self.truncator = truncator

    def call(self, inputs) -> dict[str, tf.Tensor]:
        return pack_segments(
            inputs,
            self.seq_length,
            self.start_id,
            self.end_id,
            self.pad_id,
            self.truncator,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "seq_length": self.seq_length,
                "start_id": self.start_id,
                "end_id": self.end_id,
                "pad_id": self.pad_id,
                "truncator": self.truncator,
            }
        )
        return config
