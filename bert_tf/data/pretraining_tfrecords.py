"""Offline pre-training data: TFRecord files in the original feature format.

`write_pretraining_tfrecords` is the equivalent of google-research/bert's
`create_pretraining_data.py` (static masking, `dupe_factor` passes), built on
the same in-graph pipeline as `bert_tf.data.pretraining.pretraining_dataset`;
`tfrecord_dataset` reads such files (ours or the original script's) back as
the same feature dicts.
"""

import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from bert_tf.data.pretraining import EXAMPLE_SETTINGS, data_options, pretraining_dataset
from bert_tf.text.tokenizer import BertTokenizer
from bert_tf.text.vocab import expand_input_files

__all__ = ["tfrecord_dataset", "write_pretraining_tfrecords"]

# bert_tf feature name → google-research/bert TFRecord feature name.
_TFRECORD_NAMES = {
    "input_word_ids": "input_ids",
    "input_mask": "input_mask",
    "input_type_ids": "segment_ids",
    "masked_lm_positions": "masked_lm_positions",
    "masked_lm_ids": "masked_lm_ids",
    "masked_lm_weights": "masked_lm_weights",
    "next_sentence_labels": "next_sentence_labels",
}


def _int_feature(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _float_feature(values) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def write_pretraining_tfrecords(
    input_files: str | Sequence[str],
    tokenizer: BertTokenizer,
    output_prefix: str,
    num_shards: int = 1,
    dupe_factor: int = 10,
    seed: int = 12345,
    overwrite: bool = False,
    **example_settings,
) -> tuple[list[str], int]:
    """Writes masked NSP examples as sharded TFRecord files (static masking).

    The equivalent of google-research/bert `create_pretraining_data.py`: the
    corpus is processed `dupe_factor` times, each pass with new pairs and
    masks, and the examples are spread round-robin over `num_shards` files
    `{output_prefix}-{i:05d}-of-{num_shards:05d}.tfrecord` in the original
    feature format (`input_ids`, `segment_ids`, ...).

    Args:
      input_files, tokenizer: as `pretraining_dataset`.
      output_prefix: path prefix of the shards (its folder is created).
      num_shards: number of output files.
      dupe_factor: passes over the corpus.
      seed: seed of the first pass (pass i uses seed + 3 * i).
      overwrite: replace existing shards; otherwise existing files are an
        error and nothing is written.
      **example_settings: the `pretraining_dataset` arguments that shape the
        examples (`EXAMPLE_SETTINGS`: `max_seq_length`,
        `max_predictions_per_seq`, `masked_lm_prob`, `short_seq_prob`,
        `do_whole_word_mask`, `input_format`), with its defaults.

    Returns:
      `(shard paths, number of examples)`.

    Raises:
      FileExistsError: naming an existing shard when `overwrite` is False.
      ValueError: when the corpus yields no example.
      TypeError: a keyword argument that is not an example setting.
    """
    for name in example_settings:
        if name not in EXAMPLE_SETTINGS:
            raise TypeError(
                f"write_pretraining_tfrecords() got an unexpected keyword argument {name!r}"
            )
    if not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"num_shards must be a positive int, got {num_shards!r}")
    if not isinstance(dupe_factor, int) or dupe_factor < 1:
        raise ValueError(f"dupe_factor must be a positive int, got {dupe_factor!r}")
    paths = [f"{output_prefix}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]
    existing = [p for p in paths if tf.io.gfile.exists(p)]
    if existing and not overwrite:
        raise FileExistsError(
            f"{existing[0]} already exists; pass overwrite=True or choose another output prefix"
        )
    folder = os.path.dirname(output_prefix)
    if folder:
        tf.io.gfile.makedirs(folder)
    count = 0
    # Write to temporary names and rename at the end, so an interrupted run
    # leaves no partial shard under the final name.
    writers = [tf.io.TFRecordWriter(p + ".tmp") for p in paths]
    try:
        for dupe in range(dupe_factor):
            ds = pretraining_dataset(
                input_files,
                tokenizer,
                batch_size=256,
                seed=seed + 3 * dupe,
                repeat=False,
                **example_settings,
            )
            for batch in ds.as_numpy_iterator():
                for i in range(len(batch["next_sentence_labels"])):
                    feature = {}
                    for name, record_name in _TFRECORD_NAMES.items():
                        value = np.reshape(batch[name][i], [-1])
                        feature[record_name] = (
                            _float_feature(value)
                            if value.dtype.kind == "f"
                            else _int_feature(value)
                        )
                    example = tf.train.Example(features=tf.train.Features(feature=feature))
                    writers[count % num_shards].write(example.SerializeToString())
                    count += 1
    finally:
        for w in writers:
            w.close()
    if not count:
        for p in paths:
            tf.io.gfile.remove(p + ".tmp")
        raise ValueError(
            f"{input_files}: the corpus yields no pre-training example (no document with text?)"
        )
    for p in paths:
        tf.io.gfile.rename(p + ".tmp", p, overwrite=True)
    return paths, count


def tfrecord_dataset(
    input_files: str | Sequence[str],
    batch_size: int,
    max_seq_length: int = 128,
    max_predictions_per_seq: int = 20,
    repeat: bool = True,
    shuffle: bool = True,
    seed: int | None = None,
    shuffle_buffer: int = 10000,
) -> tf.data.Dataset:
    """Reads pre-training TFRecord files (ours or the original script's).

    Args:
      input_files: comma-separated globs or a list of them (`.gz` files are
        read as gzip).
      batch_size: examples per batch (full batches only when `repeat`).
      max_seq_length: S the files were written with.
      max_predictions_per_seq: P the files were written with.
      repeat: loop forever.
      shuffle: shuffle files and examples.
      seed: shuffle seed.
      shuffle_buffer: examples held by the shuffle buffer.

    Returns:
      A dataset of feature dicts (`FEATURE_NAMES`).
    """
    files = expand_input_files(input_files)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=not repeat)
    if repeat:
        ds = ds.repeat()
    ds = ds.interleave(
        lambda f: tf.data.TFRecordDataset(
            f,
            compression_type=tf.where(tf.strings.regex_full_match(f, r".*\.gz"), "GZIP", ""),
        ),
        cycle_length=min(4, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=not repeat)
    ds = ds.batch(batch_size, drop_remainder=repeat)
    s, p = max_seq_length, max_predictions_per_seq
    spec = {
        "input_ids": tf.io.FixedLenFeature([s], tf.int64),
        "input_mask": tf.io.FixedLenFeature([s], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([s], tf.int64),
        "masked_lm_positions": tf.io.FixedLenFeature([p], tf.int64),
        "masked_lm_ids": tf.io.FixedLenFeature([p], tf.int64),
        "masked_lm_weights": tf.io.FixedLenFeature([p], tf.float32),
        "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
    }

    def parse(records):
        parsed = tf.io.parse_example(records, spec)
        out = {}
        for name, record_name in _TFRECORD_NAMES.items():
            value = parsed[record_name]
            if value.dtype == tf.int64:
                value = tf.cast(value, tf.int32)
            out[name] = value
        out["next_sentence_labels"] = out["next_sentence_labels"][:, 0]  # [B]
        return out

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(data_options())
