"""BertPacker and BertPreprocessor against keras-hub and Model Garden."""

import garden_testing
import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.text import BertPacker, BertPreprocessor, BertTokenizer
from bert_tf.text.packer import pack_segments
from bert_tf.text.preprocessor import tokenize_in_shards

CLS, SEP, PAD = 101, 102, 0


def random_segments(rng, num_segments, batch, max_len):
    return [
        tf.ragged.constant(
            [rng.integers(1000, 2000, rng.integers(0, max_len + 1)).tolist() for _ in range(batch)],
            dtype=tf.int32,
            ragged_rank=1,
        )
        for _ in range(num_segments)
    ]


@pytest.mark.parametrize("truncator", ["round_robin", "waterfall"])
@pytest.mark.parametrize("num_segments", [1, 2, 3])
def test_equals_keras_hub_multi_segment_packer(truncator, num_segments):
    rng = np.random.default_rng(num_segments)
    for seq_length in (4, 9, 32):
        segments = random_segments(rng, num_segments, batch=16, max_len=20)
        got = BertPacker(seq_length, CLS, SEP, PAD, truncator=truncator)(segments)
        packer = keras_hub.layers.MultiSegmentPacker(
            seq_length,
            start_value=CLS,
            end_value=SEP,
            pad_value=PAD,
            truncate=truncator,
        )
        ids, segment_ids = packer(tuple(segments) if num_segments > 1 else segments[0])
        np.testing.assert_array_equal(got["input_word_ids"], ids)
        np.testing.assert_array_equal(got["input_type_ids"], segment_ids)
        np.testing.assert_array_equal(got["input_mask"], np.asarray(ids) != PAD)


@pytest.mark.parametrize("truncator", ["round_robin", "waterfall"])
def test_equals_model_garden_bert_pack_inputs(truncator):
    mg_layers = garden_testing.import_garden("official.nlp.modeling.layers")
    rng = np.random.default_rng(7)
    for num_segments in (1, 2, 3):
        for seq_length in (5, 16):
            segments = random_segments(rng, num_segments, batch=16, max_len=12)
            got = BertPacker(seq_length, CLS, SEP, PAD, truncator=truncator)(segments)
            want = mg_layers.BertPackInputs(
                seq_length,
                special_tokens_dict=dict(
                    start_of_sequence_id=CLS,
                    end_of_segment_id=SEP,
                    padding_id=PAD,
                ),
                truncator=truncator,
            )(segments)
            for key in got:
                np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_seq_length_as_tensor_and_ragged_rank_2():
    words = tf.ragged.constant([[[5, 6], [7]], [[8]]], dtype=tf.int32)
    fn = tf.function(lambda s, n: pack_segments([s], n, CLS, SEP, PAD))
    got = fn(words, tf.constant(6))
    assert got["input_word_ids"].numpy().tolist() == [
        [CLS, 5, 6, 7, SEP, PAD],
        [CLS, 8, SEP, PAD, PAD, PAD],
    ]
    assert got["input_mask"].numpy().tolist() == [[1] * 5 + [0], [1] * 3 + [0] * 3]
    assert got["input_type_ids"].numpy().tolist() == [[0] * 6] * 2
    long = tf.ragged.constant([[5, 6, 7, 8, 9, 10, 11]], dtype=tf.int32)
    got = fn(long, tf.constant(6))
    assert got["input_word_ids"].numpy().tolist() == [[CLS, 5, 6, 7, 8, SEP]]
    assert got["input_mask"].numpy().tolist() == [[1] * 6]
    for too_short in (0, 1):
        with pytest.raises(tf.errors.InvalidArgumentError, match="too short for 1 segments"):
            fn(words, tf.constant(too_short))
    pair = tf.function(lambda s, n: pack_segments([s, s], n, CLS, SEP, PAD))
    with pytest.raises(tf.errors.InvalidArgumentError, match="too short for 2 segments"):
        pair(words, tf.constant(2))


def test_empty_batch_and_empty_segments():
    empty = tf.ragged.constant([], dtype=tf.int32, ragged_rank=1)
    out = BertPacker(6, CLS, SEP, PAD)([empty, empty])
    assert out["input_word_ids"].shape == (0, 6)
    none = tf.ragged.constant([[], []], dtype=tf.int32, ragged_rank=1)
    out = BertPacker(6, CLS, SEP, PAD)([none, none])
    assert out["input_word_ids"].numpy().tolist() == [[CLS, SEP, SEP, 0, 0, 0]] * 2
    assert out["input_type_ids"].numpy().tolist() == [[0, 0, 1, 0, 0, 0]] * 2


def test_one_segment_empty_batch_empty_rows_and_int64_ids():
    empty = tf.ragged.constant([], dtype=tf.int64, ragged_rank=1)
    out = BertPacker(6, CLS, SEP, PAD)(empty)
    assert out["input_word_ids"].shape == (0, 6)
    assert out["input_word_ids"].dtype == tf.int32
    rows = tf.ragged.constant([[], [7, 8, 9, 10, 11], [7]], dtype=tf.int64)
    out = BertPacker(6, CLS, SEP, PAD)(rows)
    assert out["input_word_ids"].numpy().tolist() == [
        [CLS, SEP, PAD, PAD, PAD, PAD],
        [CLS, 7, 8, 9, 10, SEP],
        [CLS, 7, SEP, PAD, PAD, PAD],
    ]
    assert out["input_mask"].numpy().tolist() == [[1, 1, 0, 0, 0, 0], [1] * 6, [1, 1, 1, 0, 0, 0]]
    assert out["input_type_ids"].numpy().tolist() == [[0] * 6] * 3


def test_one_segment_pad_id_not_zero_and_no_token_budget():
    # The rows follow from the layout [CLS] tokens [SEP] [PAD]...; a pad id
    # other than 0 shows the padding and the special tokens' arithmetic.
    rows = tf.ragged.constant([[], [4], [5, 6, 7, 8, 9]], dtype=tf.int32)
    out = BertPacker(6, start_id=2, end_id=3, pad_id=7)(rows)
    assert out["input_word_ids"].numpy().tolist() == [
        [2, 3, 7, 7, 7, 7],
        [2, 4, 3, 7, 7, 7],
        [2, 5, 6, 7, 8, 3],
    ]
    assert out["input_mask"].numpy().tolist() == [[1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0], [1] * 6]
    assert out["input_type_ids"].numpy().tolist() == [[0] * 6] * 3
    # seq_length 2 leaves no room for tokens: [CLS] [SEP] whatever the row.
    out = BertPacker(2, CLS, SEP, PAD)(rows)
    assert out["input_word_ids"].numpy().tolist() == [[CLS, SEP]] * 3
    assert out["input_mask"].numpy().tolist() == [[1, 1]] * 3


def test_one_segment_empty_batch_outputs():
    packer = BertPacker(6, CLS, SEP, PAD)
    out = packer(tf.ragged.constant([], dtype=tf.int32, ragged_rank=1))
    for key, value in out.items():
        assert value.shape == (0, 6), key
        assert value.dtype == tf.int32, key
    spec = tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1)
    outputs = tf.function(packer).get_concrete_function(spec).structured_outputs
    for key, value in outputs.items():
        assert value.shape.as_list() == [None, 6], key


@pytest.mark.parametrize("num_shards", [2, 3, 5, 11])
def test_tokenize_in_shards_equals_one_piece(num_shards, tiny_vocab):
    tokenizer = BertTokenizer(tiny_vocab, lower_case=True)
    texts = ["the fox", "", "quick brown jumps", "", "", "the the the", "jumped", "x", "fox"]
    in_graph = tf.function(lambda a, b: tokenize_in_shards(tokenizer.tokenize, [a, b], num_shards))
    for batch in range(len(texts)):
        text_a = tf.constant(texts[:batch], tf.string, shape=[batch])
        text_b = tf.constant(texts[::-1][:batch], tf.string, shape=[batch])
        want = [tokenizer.tokenize(text_a), tokenizer.tokenize(text_b)]
        eager = tokenize_in_shards(tokenizer.tokenize, [text_a, text_b], num_shards)
        for got in (eager, in_graph(text_a, text_b)):
            for g, w in zip(got, want, strict=True):
                assert g.row_splits.dtype == w.row_splits.dtype == tf.int64
                np.testing.assert_array_equal(g.row_splits, w.row_splits)
                np.testing.assert_array_equal(g.values, w.values)


@pytest.mark.parametrize("batch", [0, 1, 2, 7])
def test_preprocessor_shards_equal_one_piece(batch, minilm_vocab_path, stdlib_lines):
    tokenizer = BertTokenizer(minilm_vocab_path, lower_case=True)
    text_a = tf.constant(stdlib_lines[:batch], tf.string, shape=[batch])
    text_b = tf.constant(stdlib_lines[100 : 100 + batch], tf.string, shape=[batch])
    whole = BertPreprocessor(tokenizer, seq_length=24, num_shards=1)
    for num_shards in (2, 3):
        sharded = tf.function(BertPreprocessor(tokenizer, seq_length=24, num_shards=num_shards))
        for inputs in (text_a, [text_a, text_b]):
            want, got = whole(inputs), sharded(inputs)
            for key in want:
                np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    with pytest.raises(ValueError, match="num_shards must be an int >= 1, got 0"):
        BertPreprocessor(tokenizer, num_shards=0)
    if batch == 7:
        sharded = BertPreprocessor(tokenizer, num_shards=2)
        for short in (text_b[:5], text_a[:6]):  # 7 vs 6: equal slices would match.
            with pytest.raises(tf.errors.InvalidArgumentError, match="different batch sizes"):
                sharded([short, text_a])
            with pytest.raises(tf.errors.InvalidArgumentError, match="different batch sizes"):
                tf.function(sharded)([short, text_a])


def test_errors_name_the_problem():
    seg = tf.ragged.constant([[1, 2]], dtype=tf.int32)
    with pytest.raises(ValueError, match="too short for 3 segments"):
        BertPacker(3, CLS, SEP, PAD)([seg, seg, seg])
    with pytest.raises(ValueError, match="truncator"):
        BertPacker(8, CLS, SEP, PAD, truncator="middle")
    with pytest.raises(TypeError, match="segment 1 must be a RaggedTensor"):
        BertPacker(8, CLS, SEP, PAD)([seg, tf.constant([[1]])])
    with pytest.raises(TypeError, match="integer"):
        BertPacker(8, CLS, SEP, PAD)([tf.ragged.constant([[1.0]])])
    other = tf.ragged.constant([[1], [2]], dtype=tf.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="different batch sizes"):
        BertPacker(8, CLS, SEP, PAD)([seg, other])


def test_preprocessor_pairs_and_config_round_trip(tiny_vocab):
    tokenizer = BertTokenizer(tiny_vocab, lower_case=True)
    pre = BertPreprocessor(tokenizer, seq_length=10, name="pre")
    out = pre([tf.constant(["The quick fox"]), tf.constant(["jumped over!"])])
    assert out["input_word_ids"].numpy().tolist() == [[2, 5, 6, 8, 3, 9, 11, 12, 17, 3]]
    assert out["input_type_ids"].numpy().tolist() == [[0] * 5 + [1] * 5]
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(pre))
    assert restored.get_config() == pre.get_config()
    again = restored([tf.constant(["The quick fox"]), tf.constant(["jumped"])])
    assert again["input_word_ids"].shape == (1, 10)
    with pytest.raises(ValueError, match="lacks"):
        BertPreprocessor(BertTokenizer(["[UNK]", "a"], lower_case=True))
