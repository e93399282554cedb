"""Tests of `bert_tf.text.masking`: BERT's masked-LM rates and invariants.

Rates are checked against the procedure's definition (15% of the non-special
tokens; 80% [MASK], 10% random id from the whole vocabulary, 10% unchanged)
with tolerances of 5 binomial standard deviations over tens of thousands of
draws, so a wrong rate fails and a right one passes except with negligible
probability.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.text.masking import BertMaskedLmMasker

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, CLS, SEP, MASK = 0, 2, 3, 4
WORDS = [f"w{i}" for i in range(150)]
PIECES = [f"##p{i}" for i in range(100)]
VOCAB = SPECIAL + WORDS + PIECES
V = len(VOCAB)
FIRST_PIECE = len(SPECIAL) + len(WORDS)


def _packed_rows(num_rows, seq_length, seed):
    """Random packed rows `[CLS] A [SEP] B [SEP] [PAD]...` with `##` pieces."""
    rng = np.random.default_rng(seed)
    ids = np.full((num_rows, seq_length), PAD, np.int32)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for r in range(num_rows):
        total = rng.integers(4, seq_length - 2)
        len_a = rng.integers(1, total)
        # A word start (id < FIRST_PIECE) followed by 0-3 pieces, 30% of tokens.
        body = []
        while len(body) < total:
            body.append(rng.integers(len(SPECIAL), FIRST_PIECE))
            body.extend(rng.integers(FIRST_PIECE, V, size=rng.integers(0, 4)))
        body = body[:total]
        row = [CLS] + body[:len_a] + [SEP] + body[len_a:] + [SEP]
        ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
        types[r, len_a + 2 : len(row)] = 1
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


def _within(observed, expected, trials, sigmas=5.0):
    sd = math.sqrt(expected * (1 - expected) / trials)
    assert abs(observed - expected) <= sigmas * sd, (
        f"rate {observed:.4f} vs expected {expected:.4f} over {trials} trials (sd {sd:.4f})"
    )


def _mask(rows, seed=(7, 11), **kwargs):
    masker = BertMaskedLmMasker(VOCAB, **kwargs)
    out = masker({k: tf.constant(v) for k, v in rows.items()}, seed=seed)
    return masker, {k: v.numpy() for k, v in out.items()}


@pytest.fixture(scope="module")
def rows():
    return _packed_rows(4000, 64, seed=0)


def test_selection_count_and_rate(rows):
    _, out = _mask(rows, max_predictions_per_seq=20)
    ids, mask = rows["input_word_ids"], rows["input_mask"]
    selectable = (mask == 1) & ~np.isin(ids, [CLS, SEP, PAD])
    n = selectable.sum(1)
    chosen = out["masked_lm_weights"].sum(1).astype(int)
    # Per row: exactly round(15% of the non-special tokens), >= 1, <= 20.
    expected = np.minimum(np.maximum(np.round(n * 0.15), 1), 20).astype(int)
    np.testing.assert_array_equal(chosen, expected)
    # Over the corpus, the uncapped rows select 15% up to rounding (< 0.5 per
    # row, which averages out well below the bound used here).
    uncapped = expected < 20
    rate = chosen[uncapped].sum() / n[uncapped].sum()
    assert abs(rate - 0.15) < 0.5 / n[uncapped].mean()


def test_replacement_rates(rows):
    _, out = _mask(rows)
    ids = rows["input_word_ids"]
    w = out["masked_lm_weights"] > 0
    pos = out["masked_lm_positions"]
    original = np.take_along_axis(ids, pos, axis=1)[w]
    np.testing.assert_array_equal(out["masked_lm_ids"][w], original)
    now = np.take_along_axis(out["input_word_ids"], pos, axis=1)[w]
    trials = int(w.sum())
    assert trials > 15000
    # A random id may hit [MASK] or the original id (1/V each).
    p_mask = 0.8 + 0.1 / V
    p_same = 0.1 + 0.1 / V
    p_other = 1 - p_mask - p_same
    _within(np.mean(now == MASK), p_mask, trials)
    _within(np.mean(now == original), p_same, trials)
    _within(np.mean((now != MASK) & (now != original)), p_other, trials)
    # Random ids come uniformly from the whole vocabulary: mean id ~ (V-1)/2.
    random_ids = now[(now != MASK) & (now != original)]
    sd = math.sqrt((V**2 - 1) / 12 / len(random_ids))
    assert abs(random_ids.mean() - (V - 1) / 2) < 5 * sd
    # Nothing outside the predicted positions changes.
    changed = out["input_word_ids"] != ids
    row_idx = np.repeat(np.arange(len(ids)), pos.shape[1])
    predicted = np.zeros_like(changed)
    predicted[row_idx, pos.reshape(-1)] |= w.reshape(-1)
    assert not (changed & ~predicted).any()


def test_positions_uniform_over_tokens(rows):
    """Every non-special token is equally likely: first vs second half."""
    _, out = _mask(rows, max_predictions_per_seq=64)
    ids, mask = rows["input_word_ids"], rows["input_mask"]
    selectable = (mask == 1) & ~np.isin(ids, [CLS, SEP, PAD])
    w = out["masked_lm_weights"] > 0
    pos = out["masked_lm_positions"]
    # Fraction of the chosen tokens that fall in segment B, vs the fraction of
    # the selectable tokens in segment B.
    in_b = np.take_along_axis(rows["input_type_ids"], pos, axis=1)[w] == 1
    expected = (selectable & (rows["input_type_ids"] == 1)).sum() / selectable.sum()
    _within(in_b.mean(), expected, int(w.sum()))


def test_never_masks_special_tokens_or_padding(rows):
    _, out = _mask(rows, masked_lm_prob=0.9, max_predictions_per_seq=64)
    ids = rows["input_word_ids"]
    w = out["masked_lm_weights"] > 0
    assert not np.isin(out["masked_lm_ids"][w], [CLS, SEP, PAD]).any()
    special = np.isin(ids, [CLS, SEP, PAD])
    np.testing.assert_array_equal(out["input_word_ids"][special], ids[special])
    # Padded prediction slots: position 0, id 0, weight 0.
    assert (out["masked_lm_positions"][~w] == 0).all()
    assert (out["masked_lm_ids"][~w] == 0).all()
    # Positions are increasing within a row.
    pos = np.where(w, out["masked_lm_positions"], 10**6)
    assert (np.diff(pos, axis=1) >= 0).all()


def _words(row_ids, row_mask):
    """[(start, end)] of the words of a row: a non-`##` token and its pieces."""
    words, start = [], None
    for i, t in enumerate(row_ids):
        if not row_mask[i] or t in (CLS, SEP):
            if start is not None:
                words.append((start, i))
            start = None
        elif t < FIRST_PIECE or start is None:
            if start is not None:
                words.append((start, i))
            start = i
    if start is not None:
        words.append((start, len(row_ids)))
    return words


def test_whole_word_masking_never_splits_a_word(rows):
    _, out = _mask(rows, whole_word_mask=True, max_predictions_per_seq=20)
    ids, mask = rows["input_word_ids"], rows["input_mask"]
    w = out["masked_lm_weights"] > 0
    split = whole = 0
    for r in range(len(ids)):
        chosen = set(out["masked_lm_positions"][r][w[r]].tolist())
        for start, end in _words(ids[r], mask[r]):
            hit = sum(i in chosen for i in range(start, end))
            if hit:
                whole += 1
                split += hit != end - start
    assert whole > 5000
    assert split == 0
    # Words are taken until the budget: never more than round(15% n) tokens,
    # and on average close to it (a word that would overflow is not taken).
    selectable = (mask == 1) & ~np.isin(ids, [CLS, SEP, PAD])
    budget = np.minimum(np.maximum(np.round(selectable.sum(1) * 0.15), 1), 20)
    chosen = w.sum(1)
    assert (chosen <= budget).all()
    assert chosen.sum() / budget.sum() > 0.8
    # Replacement is still decided per token.
    now = np.take_along_axis(out["input_word_ids"], out["masked_lm_positions"], axis=1)[w]
    _within(np.mean(now == MASK), 0.8 + 0.1 / V, int(w.sum()))


def test_whole_word_masking_selects_pieces():
    """With WWM, `##` pieces get selected (with their word), not just starts."""
    rows = _packed_rows(500, 64, seed=3)
    _, out = _mask(rows, whole_word_mask=True)
    w = out["masked_lm_weights"] > 0
    assert (out["masked_lm_ids"][w] >= FIRST_PIECE).any()


def test_reproducible_and_dynamic(rows):
    small = {k: v[:64] for k, v in rows.items()}
    _, a = _mask(small, seed=(1, 2))
    _, b = _mask(small, seed=(1, 2))
    _, c = _mask(small, seed=(1, 3))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert (a["masked_lm_positions"] != c["masked_lm_positions"]).any()


def test_in_tf_function_and_dataset():
    rows = _packed_rows(8, 32, seed=5)
    masker = BertMaskedLmMasker(VOCAB, max_predictions_per_seq=5)
    ds = tf.data.Dataset.from_tensor_slices(rows).batch(4)
    ds = tf.data.Dataset.zip(ds, tf.data.Dataset.random(seed=1).batch(2))
    out = list(ds.map(lambda x, s: masker(x, seed=s)))
    assert out[0]["masked_lm_positions"].shape == (4, 5)
    assert out[0]["input_type_ids"].shape == (4, 32)


def test_config_round_trip():
    masker = BertMaskedLmMasker(
        VOCAB, masked_lm_prob=0.2, max_predictions_per_seq=7, whole_word_mask=True, name="masker"
    )
    config = masker.get_config()
    for key in (
        "masked_lm_prob",
        "max_predictions_per_seq",
        "mask_token_rate",
        "random_token_rate",
        "whole_word_mask",
        "unselectable_tokens",
        "suffix_indicator",
        "vocabulary",
    ):
        assert config[key] == getattr(masker, key)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(masker))
    assert clone.get_config() == config
    rows = {k: tf.constant(v) for k, v in _packed_rows(4, 32, seed=9).items()}
    a, b = masker(rows, seed=[3, 4]), clone(rows, seed=[3, 4])
    np.testing.assert_array_equal(a["input_word_ids"], b["input_word_ids"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vocabulary": ["[PAD]", "[CLS]", "[SEP]", "a"]}, r"\[MASK\]"),
        ({"masked_lm_prob": 0.0}, "masked_lm_prob"),
        ({"max_predictions_per_seq": 0}, "max_predictions_per_seq"),
        ({"mask_token_rate": 0.95}, "random_token_rate"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, message):
    kwargs = {"vocabulary": VOCAB, **kwargs}
    with pytest.raises(ValueError, match=message):
        BertMaskedLmMasker(**kwargs)
