"""Tests of `bert_tf.data.pretraining`: NSP pairs, packing, masking, TFRecords.

The corpus is real text (standard-library docstrings, see
`pretrain_testing`). Expected values come from the procedure's definition
(50/50 next-sentence split, 15% masking, segment layout), with binomial
tolerances of 5 standard deviations.
"""

import gzip
import math
import os

import numpy as np
import pretrain_testing
import pytest
import tensorflow as tf

from bert_tf.data import pretraining, pretraining_tfrecords
from bert_tf.text import BertTokenizer

SEQ = 32
PRED = 5


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    docs = pretrain_testing.corpus_documents(250)
    folder = str(tmp_path_factory.mktemp("corpus"))
    files = pretrain_testing.write_corpus(folder, docs, num_files=2)
    tokenizer = BertTokenizer(pretrain_testing.make_vocab(docs), lower_case=True)
    return {"docs": docs, "folder": folder, "files": files, "tokenizer": tokenizer}


def _dataset(corpus, **kwargs):
    args = dict(
        batch_size=256, max_seq_length=SEQ, max_predictions_per_seq=PRED, seed=3, repeat=False
    )
    args.update(kwargs)
    return pretraining.pretraining_dataset(
        os.path.join(corpus["folder"], "part-*"), corpus["tokenizer"], **args
    )


def _collect(ds, max_batches=None):
    out = {}
    for i, batch in enumerate(ds.as_numpy_iterator()):
        if max_batches is not None and i == max_batches:
            break
        for k, v in batch.items():
            out.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def base_dataset(corpus):
    return _dataset(corpus)


@pytest.fixture(scope="module")
def examples(base_dataset):
    """One pass over the corpus (seed 3)."""
    return _collect(base_dataset)


def _unmasked_ids(examples):
    """input_word_ids with the original tokens back at the masked positions."""
    ids = examples["input_word_ids"].copy()
    w = examples["masked_lm_weights"] > 0
    for r in range(len(ids)):
        ids[r, examples["masked_lm_positions"][r][w[r]]] = examples["masked_lm_ids"][r][w[r]]
    return ids


def _segments(row_ids, row_types, row_mask):
    n = int(row_mask.sum())
    ids, types = row_ids[:n], row_types[:n]
    a = ids[1:][types[1:] == 0][:-1]  # drop the first [SEP]
    b = ids[types == 1][:-1]
    return a.tolist(), b.tolist()


def _token_streams(corpus):
    """Each document as one space-separated string of token ids."""
    tok = corpus["tokenizer"]
    streams = []
    for doc in corpus["docs"]:
        ids = tok.tokenize(doc).flat_values.numpy().tolist()
        streams.append(" " + " ".join(map(str, ids)) + " ")
    return streams


def _text(ids):
    return " " + " ".join(map(str, ids)) + " "


def test_layout_of_packed_examples(examples):
    # (A random replacement may be any id, [SEP] included: look at the
    # original tokens.)
    ids, mask, types = (_unmasked_ids(examples), examples["input_mask"], examples["input_type_ids"])
    assert ids.shape[1] == SEQ and examples["masked_lm_ids"].shape[1] == PRED
    lengths = mask.sum(1)
    assert (ids[:, 0] == 2).all()  # [CLS]
    rows = np.arange(len(ids))
    assert (ids[rows, lengths - 1] == 3).all()  # final [SEP]
    assert ((ids == 3) & (mask == 1)).sum(1).tolist() == [2] * len(ids)
    assert (ids[mask == 0] == 0).all() and (types[mask == 0] == 0).all()
    # Type ids: 0 through the first [SEP], then 1 through the end.
    for r in range(0, len(ids), 7):
        first_sep = int(np.argmax(ids[r] == 3))
        assert (types[r, : first_sep + 1] == 0).all()
        assert (types[r, first_sep + 1 : lengths[r]] == 1).all()
        assert first_sep >= 2 and lengths[r] - first_sep >= 3  # A, B non-empty


def test_next_sentence_split_is_50_50(base_dataset, examples):
    # Three passes: every pass draws new chunks and coins.
    labels = np.concatenate(
        [examples["next_sentence_labels"]]
        + [_collect(base_dataset)["next_sentence_labels"] for _ in range(2)]
    )
    n = len(labels)
    assert n > 1500
    assert abs(labels.mean() - 0.5) <= 5 * math.sqrt(0.25 / n)


def test_pairs_are_actual_or_random_continuations(corpus, examples):
    streams = _token_streams(corpus)
    ids = _unmasked_ids(examples)
    checked = {0: 0, 1: 0}
    untruncated_actual = 0
    for r in range(len(ids)):
        a, b = _segments(ids[r], examples["input_type_ids"][r], examples["input_mask"][r])
        label = int(examples["next_sentence_labels"][r])
        joined = _text(a + b)[:-1]
        contiguous = any(joined in s for s in streams)
        if label == 0:
            # Same document, B after A; contiguous unless the pair was truncated.
            assert any(
                _text(a) in s and _text(b) in s and s.index(_text(a)) < s.rindex(_text(b))
                for s in streams
            )
            if len(a) + len(b) < SEQ - 3:
                untruncated_actual += 1
                assert contiguous
        else:
            assert any(_text(b) in s for s in streams)
            # B is not the text that follows A (A, B long enough to be unique).
            if len(a) >= 8 and len(b) >= 8:
                assert not contiguous
        checked[label] += 1
    assert checked[0] > 100 and checked[1] > 100 and untruncated_actual > 3


def test_masking_in_pipeline(examples):
    ids, mask = examples["input_word_ids"], examples["input_mask"]
    w = examples["masked_lm_weights"] > 0
    assert not np.isin(examples["masked_lm_ids"][w], [0, 2, 3]).any()
    # Non-special tokens of a row: all real tokens but [CLS] and two [SEP]s.
    n = mask.sum(1) - 3
    expected = np.minimum(np.maximum(np.round(n * 0.15), 1), PRED)
    np.testing.assert_array_equal(w.sum(1), expected)
    now = np.take_along_axis(ids, examples["masked_lm_positions"], 1)[w]
    trials = int(w.sum())
    assert abs(np.mean(now == 4) - 0.8) <= 5 * math.sqrt(0.16 / trials) + 0.01


def test_short_seq_prob_makes_shorter_pairs(corpus):
    # Long enough rows that several sentences fit (a sentence longer than the
    # target still makes a full pair, as in the original).
    seq = 128
    full = _collect(_dataset(corpus, short_seq_prob=0.0, max_seq_length=seq), 1)
    short = _collect(_dataset(corpus, short_seq_prob=1.0, max_seq_length=seq), 1)
    full_len = full["input_mask"].sum(1)
    short_len = short["input_mask"].sum(1)
    assert full_len.mean() > short_len.mean() + 10
    # With no short targets, pairs fill the sequence most of the time.
    assert np.mean(full_len >= seq - 8) > 0.5


def test_reproducible_under_seed_and_dynamic_across_passes(corpus, examples):
    ds = _dataset(corpus, seed=5)
    a = _collect(ds, max_batches=1)
    b = _collect(_dataset(corpus, seed=5), max_batches=1)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    n = len(a["input_word_ids"])
    assert (a["input_word_ids"] != examples["input_word_ids"][:n]).any()
    # A second pass over the same dataset object draws new pairs and masks.
    again = _collect(ds, max_batches=1)
    assert (a["masked_lm_positions"] != again["masked_lm_positions"]).any()


def test_whole_word_mask_in_pipeline(corpus):
    out = _collect(_dataset(corpus, do_whole_word_mask=True, seed=8), 2)
    vocab = corpus["tokenizer"].vocabulary
    w = out["masked_lm_weights"] > 0
    for r in range(len(w)):
        chosen = set(out["masked_lm_positions"][r][w[r]].tolist())
        for p in chosen:
            # The token after a chosen one is chosen too if it continues the word.
            nxt = p + 1
            if nxt < SEQ and out["input_mask"][r, nxt]:
                original = out["input_word_ids"][r, nxt]
                if nxt in chosen:
                    continue
                assert not vocab[original].startswith("##"), (r, p)


def test_read_documents_gzip_globs_and_paragraphs(corpus, tmp_path):
    docs = list(
        pretraining.read_documents(
            os.path.join(corpus["folder"], "part-*"), shuffle=False
        ).as_numpy_iterator()
    )
    assert len(docs) == len(corpus["docs"])
    assert sum(len(d["sentences"]) for d in docs) == sum(len(d) for d in corpus["docs"])
    path = tmp_path / "para.txt.gz"
    with gzip.open(path, "wt") as f:
        f.write(
            "First sentence here. Second one follows! A third?\n\n"
            "Another document. With two sentences.\n"
        )
    docs = list(
        pretraining.read_documents(str(path), "paragraphs", shuffle=False).as_numpy_iterator()
    )
    assert [len(d["sentences"]) for d in docs] == [3, 2]
    assert docs[1]["sentences"][0] == b"Another document."


def test_tfrecords_round_trip_with_dupe_factor(corpus, examples, tmp_path):
    prefix = str(tmp_path / "records" / "pretrain")
    # Pass 0 uses seed 3, as the `examples` fixture.
    kwargs = dict(max_seq_length=SEQ, max_predictions_per_seq=PRED, seed=3)
    paths, count = pretraining_tfrecords.write_pretraining_tfrecords(
        os.path.join(corpus["folder"], "part-*"),
        corpus["tokenizer"],
        prefix,
        num_shards=2,
        dupe_factor=2,
        **kwargs,
    )
    assert len(paths) == 2 and all(os.path.exists(p) for p in paths)
    read = _collect(
        pretraining_tfrecords.tfrecord_dataset(
            paths,
            batch_size=1000,
            max_seq_length=SEQ,
            max_predictions_per_seq=PRED,
            repeat=False,
            shuffle=False,
        )
    )
    assert len(read["input_word_ids"]) == count
    one_pass = examples
    # Two passes with different seeds: about twice one pass, not identical.
    assert 1.5 * len(one_pass["input_word_ids"]) < count
    assert count < 2.5 * len(one_pass["input_word_ids"])
    # Shard 0 holds examples 0, 2, 4, ... of the first pass.
    first = _collect(
        pretraining_tfrecords.tfrecord_dataset(
            paths[0],
            batch_size=1000,
            max_seq_length=SEQ,
            max_predictions_per_seq=PRED,
            repeat=False,
            shuffle=False,
        )
    )
    for key in pretraining.FEATURE_NAMES:
        np.testing.assert_array_equal(first[key][:20], one_pass[key][0:40:2])
    # Existing shards are never overwritten by accident.
    with pytest.raises(FileExistsError, match="pretrain-00000-of-00002"):
        pretraining_tfrecords.write_pretraining_tfrecords(
            os.path.join(corpus["folder"], "part-*"),
            corpus["tokenizer"],
            prefix,
            num_shards=2,
            dupe_factor=1,
            **kwargs,
        )


def test_to_model_inputs(examples):
    features = {k: tf.constant(v[:4]) for k, v in examples.items()}
    x, y = pretraining.to_model_inputs(features)
    assert set(x) == {"input_word_ids", "input_mask", "input_type_ids", "masked_lm_positions"}
    w = examples["masked_lm_weights"][:4] > 0
    np.testing.assert_array_equal(y["mlm_logits"].numpy()[~w], -1)
    np.testing.assert_array_equal(y["mlm_logits"].numpy()[w], examples["masked_lm_ids"][:4][w])


def test_bad_inputs_name_the_problem(corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        pretraining.pretraining_dataset(
            str(tmp_path / "nothing-here*"), corpus["tokenizer"], batch_size=2
        )
    no_mask = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"], lower_case=True)
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        pretraining.pretraining_dataset(corpus["files"][0], no_mask, batch_size=2)
    with pytest.raises(ValueError, match="input_format"):
        pretraining.read_documents(corpus["files"][0], "words")
