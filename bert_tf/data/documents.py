"""Documents of plain-text corpora, read in the graph (`tf.data`).

Two layouts: `"sentences"` (one sentence per line, a blank line between
documents, as google-research/bert's `create_pretraining_data.py` reads) and
`"paragraphs"` (one document per line, split into sentences by TF-Text's
`StateBasedSentenceBreaker`). Files may be gzipped (`.gz`).

Dimension legend: L = lines of a file, D = documents, N = sentences.
"""

from collections.abc import Sequence

import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.text.vocab import expand_input_files

__all__ = ["INPUT_FORMATS", "check_format", "read_documents"]

INPUT_FORMATS = ("sentences", "paragraphs")
# Documents of one file are keyed file_index * _KEY_STRIDE + doc_index.
_KEY_STRIDE = 2**32


def check_format(input_format: str) -> None:
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input_format must be one of {INPUT_FORMATS}, got {input_format!r}")


def _file_documents(path: tf.Tensor, file_index: tf.Tensor, input_format: str) -> tf.data.Dataset:
    """The documents of one file: {"doc_key": int64, "sentences": [N] str}."""
    content = tf.io.read_file(path)
    content = tf.cond(
        tf.strings.regex_full_match(path, r".*\.gz"),
        lambda: tf.io.decode_compressed(content, compression_type="GZIP"),
        lambda: content,
    )
    lines = tf.strings.strip(tf.strings.split(content, "\n"))  # [L]
    blank = tf.strings.length(lines) == 0  # [L]
    if input_format == "sentences":
        # Blank lines separate documents: document index = blanks so far.
        doc_index = tf.cumsum(tf.cast(blank, tf.int64))  # [L]
        keep = tf.logical_not(blank)
        sentences = tf.RaggedTensor.from_value_rowids(
            tf.boolean_mask(lines, keep),
            tf.boolean_mask(doc_index, keep),
            nrows=doc_index[-1] + 1,
        )  # [D, (N)]
    else:
        paragraphs = tf.boolean_mask(lines, tf.logical_not(blank))  # [D]
        sentences = tf_text.StateBasedSentenceBreaker().break_sentences(paragraphs)  # [D, (N)]
        sentences = tf.ragged.map_flat_values(tf.strings.strip, sentences)
    keys = tf.cast(file_index, tf.int64) * _KEY_STRIDE + tf.range(
        sentences.nrows(), dtype=tf.int64
    )  # [D]
    docs = tf.data.Dataset.from_tensor_slices({"doc_key": keys, "sentences": sentences})
    # Runs of blank lines (and the end of the file) leave empty documents.
    return docs.filter(lambda doc: tf.size(doc["sentences"]) > 0)


def read_documents(
    input_files: str | Sequence[str],
    input_format: str = "sentences",
    shuffle: bool = True,
    repeat: bool = False,
    seed: int | None = None,
    document_shuffle_buffer: int = 1000,
    cycle_length: int = 4,
) -> tf.data.Dataset:
    """Documents of text files, interleaved across files and shuffled.

    Args:
      input_files: comma-separated globs or a list of globs / paths.
      input_format: `"sentences"` (one sentence per line, blank line between
        documents) or `"paragraphs"` (one document per line, split into
        sentences in the graph).
      shuffle: shuffle the files and the documents.
      repeat: repeat forever (files and documents reshuffled every pass).
      seed: shuffle seed.
      document_shuffle_buffer: documents held by the shuffle buffer.
      cycle_length: files read at the same time.

    Returns:
      A dataset of {"doc_key": int64 scalar, "sentences": [N] tf.string}.

    Raises:
      FileNotFoundError: naming a glob that matches no file.
    """
    check_format(input_format)
    files = expand_input_files(input_files)
    ds = tf.data.Dataset.from_tensor_slices((files, tf.range(len(files), dtype=tf.int64)))
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=not repeat)
    if repeat:
        ds = ds.repeat()
    ds = ds.interleave(
        lambda path, index: _file_documents(path, index, input_format),
        cycle_length=min(cycle_length, len(files)),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if shuffle:
        ds = ds.shuffle(document_shuffle_buffer, seed=seed, reshuffle_each_iteration=not repeat)
    return ds
