"""Graph helpers on flat ragged data (values + row splits), TFLite builtins only.

The raw-string serving modules (`bert_tf.export`), like the multi-segment
packer (`bert_tf.text.packer`), work on a ragged batch's flat values and
int32 row splits instead of `tf.RaggedTensor` ops: `RaggedTensor.value_rowids()`,
`RaggedRange` or `RaggedGather` lower to ops TFLite lacks. Every helper here
uses only ops with TFLite builtin kernels (gather, scatter_nd, cumsum,
compare, select, concat, slice), plus TF-Text's byte splitter in
`char_offsets`, so a graph built from them converts for LiteRT without Flex.

Helpers:

- `vector`: a string input checked to be [B] when the graph runs.
- `row_ids`: the row of each flat value, from row splits.
- `shift_right`, `shift_left`: each value's predecessor / successor.
- `max_row_length`, `dense_index`, `gather_padded`: flat values into a
  padded dense [B, W] layout.
- `string_table`, `lookup`: strings by id, "" for id -1 (TFLite cannot
  concatenate strings, so strings are read from a constant table).
- `char_offsets`: UTF-8 byte offsets into Unicode code point offsets.

Dimension legend: B = batch (rows), N = flat values of the batch, W = slots
per row of a dense layout (the longest row), L = bytes of the batch.
"""

from collections.abc import Sequence

import tensorflow as tf
import tensorflow_text as tf_text

__all__ = [
    "char_offsets",
    "dense_index",
    "gather_padded",
    "lookup",
    "max_row_length",
    "row_ids",
    "shift_left",
    "shift_right",
    "string_table",
    "vector",
]


def vector(text: tf.Tensor) -> tf.Tensor:
    """`text` checked to be a vector [B] when the graph runs.

    A loaded signature does not check its inputs' shapes; without this a
    [B, 1] input would fail deep inside the tokenizer. The error reads
    "Shape of tensor text [2,1] is not compatible with expected shape [?]".
    """
    return tf.ensure_shape(text, [None])


def row_ids(splits: tf.Tensor, num_values: tf.Tensor) -> tf.Tensor:
    """Row of each flat value, [N] int32, from int32 row splits [B + 1].

    What `RaggedTensor.value_rowids()` gives, which lowers to ops TFLite
    lacks; a +1 at every row boundary, then a running sum, gives the same.

    Example:
    >>> row_ids(tf.constant([0, 2, 2, 3]), tf.constant(3)).numpy().tolist()
    [0, 0, 2]
    """
    boundaries = splits[1:-1, tf.newaxis]  # [B - 1, 1]
    # A +1 at every row start (empty rows add up), then a running sum.
    marks = tf.scatter_nd(boundaries, tf.ones_like(boundaries[:, 0]), [num_values + 1])
    return tf.cumsum(marks)[:num_values]  # [N]


def shift_right(values: tf.Tensor, fill) -> tf.Tensor:
    """[W] → [W]: each value's predecessor, `fill` first (W may be 0)."""
    return tf.concat([[fill], values], axis=0)[: tf.size(values)]


def shift_left(values: tf.Tensor, fill) -> tf.Tensor:
    """[W] → [W]: each value's successor, `fill` last (W may be 0)."""
    return tf.concat([values, [fill]], axis=0)[1:]


def max_row_length(splits: tf.Tensor) -> tf.Tensor:
    """Longest row (0 for an empty batch), int32 scalar."""
    lengths = splits[1:] - splits[:-1]  # [B]
    return tf.reduce_max(tf.concat([lengths, [0]], axis=0))


def dense_index(
    rows: tf.Tensor, in_row: tf.Tensor, batch: tf.Tensor, width: tf.Tensor
) -> tf.Tensor:
    """[B, W] int32: the flat index of each (row, slot), -1 where none.

    Example:
    >>> rows, in_row = tf.constant([0, 0, 2]), tf.constant([0, 1, 0])
    >>> dense_index(rows, in_row, 3, 2).numpy().tolist()
    [[0, 1], [-1, -1], [2, -1]]
    """
    num_values = tf.shape(rows)[0]
    flat = tf.scatter_nd(
        (rows * width + in_row)[:, tf.newaxis],
        tf.range(1, num_values + 1),
        [batch * width],
    )  # [B * W]; each slot written at most once, 0 elsewhere.
    return tf.reshape(flat, [batch, width]) - 1  # [B, W]


def gather_padded(values: tf.Tensor, index: tf.Tensor, pad) -> tf.Tensor:
    """`values[index]`, `pad` where `index` is -1 (any index shape).

    Works on empty `values`. Numbers only: TFLite cannot concatenate
    strings; strings are gathered from a constant table that ends with ""
    (see `string_table`).
    """
    n = tf.shape(values)[0]
    padded = tf.concat([values, tf.fill([1], tf.constant(pad, values.dtype))], axis=0)  # [N + 1]
    return tf.gather(padded, tf.where(index < 0, n, index))


def string_table(strings: Sequence[str]) -> tf.Tensor:
    """[n + 1] string constant: `strings` then "" (what id -1 / n reads)."""
    return tf.constant(list(strings) + [""], tf.string)


def lookup(table: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
    """`table[ids]` of a `string_table`, "" where `ids` is -1.

    Example:
    >>> lookup(string_table(["O", "B-PER"]), tf.constant([1, -1, 0])).numpy().tolist()
    [b'B-PER', b'', b'O']
    """
    n = tf.shape(table)[0] - 1
    return tf.gather(table, tf.where(ids < 0, n, ids))


def char_offsets(text: tf.Tensor):
    """A function mapping (row, UTF-8 byte offset) to a character offset.

    Characters are counted as the bytes that do not continue a UTF-8
    sequence (not 0b10xxxxxx): for valid UTF-8, the number of Unicode code
    points before the offset (Python's `str` indices). In invalid UTF-8 a
    stray lead byte counts as one character and a stray continuation byte
    as none (Python's `errors="replace"` would count each as one).

    Example:
    >>> to_chars = char_offsets(tf.constant(["héllo", "ab"]))
    >>> to_chars(tf.constant([0, 0, 1]), tf.constant([3, 6, 1])).numpy().tolist()
    [2, 5, 1]
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
