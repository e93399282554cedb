"""BertTokenizer: parity with the original BERT and HF tokenizers on real text."""

import garden_testing
import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.data.edge_text import EDGE_CASES
from bert_tf.text import BertTokenizer, normalizer


def reference_tokenizer(vocab_path, lower_case):
    """google-research/bert's FullTokenizer, as kept in Model Garden."""
    tokenization = garden_testing.import_garden("official.nlp.tools.tokenization")
    ref = tokenization.FullTokenizer(vocab_path, do_lower_case=lower_case)
    # The original limit; Model Garden raised its default to 400.
    ref.wordpiece_tokenizer.max_input_chars_per_word = 200
    return ref


def hf_tokenizer(vocab_path, lower_case):
    """HF `tokenizers`' BertWordPiece pipeline with the original word limit."""
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(
        tokenizers.models.WordPiece.from_file(
            vocab_path, unk_token="[UNK]", max_input_chars_per_word=200
        )
    )
    tok.normalizer = tokenizers.normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=True,
        strip_accents=lower_case,
        lowercase=lower_case,
    )
    tok.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    return tok


def ours(tokenizer, texts):
    return tokenizer(tf.constant(list(texts))).to_list()


def mismatches(texts, a, b):
    return [(t, x, y) for t, x, y in zip(texts, a, b) if x != y]


@pytest.fixture(scope="module")
def uncased(minilm_vocab_path):
    return BertTokenizer(minilm_vocab_path, lower_case=True)


@pytest.fixture(scope="module")
def cased(cased_vocab_path):
    return BertTokenizer(cased_vocab_path, lower_case=False)


@pytest.mark.parametrize("casing", ["uncased", "cased"])
def test_equals_original_bert_on_stdlib_and_edge_sample(
    casing, request, stdlib_lines, minilm_vocab_path, cased_vocab_path
):
    tokenizer = request.getfixturevalue(casing)
    path = minilm_vocab_path if casing == "uncased" else cased_vocab_path
    ref = reference_tokenizer(path, lower_case=casing == "uncased")
    texts = stdlib_lines + list(EDGE_CASES)
    expected = [ref.convert_tokens_to_ids(ref.tokenize(t)) for t in texts]
    bad = mismatches(texts, ours(tokenizer, texts), expected)
    assert not bad, f"{len(bad)} of {len(texts)} lines differ, e.g. {bad[:3]}"


@pytest.mark.parametrize("casing", ["uncased", "cased"])
def test_equals_hf_tokenizers_except_private_use(
    casing, request, stdlib_lines, minilm_vocab_path, cased_vocab_path
):
    tokenizer = request.getfixturevalue(casing)
    path = minilm_vocab_path if casing == "uncased" else cased_vocab_path
    hf = hf_tokenizer(path, lower_case=casing == "uncased")
    texts = stdlib_lines + list(EDGE_CASES)
    expected = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    bad = mismatches(texts, ours(tokenizer, texts), expected)
    # HF's clean_text also drops private-use characters (category Co); the
    # original BERT keeps them, and so do we.
    assert [t for t, _, _ in bad] == [t for t in EDGE_CASES if "\ue000" in t], bad[:3]


def test_known_difference_final_sigma(uncased, minilm_vocab_path):
    ref = reference_tokenizer(minilm_vocab_path, lower_case=True)
    text = "ΟΔΟΣ"
    # Python's str.lower() is context dependent for a word-final Σ (→ ς);
    # a per-codepoint table gives σ, as HF tokenizers does.
    assert ref.tokenize(text)[-1].endswith("ς")
    got = [uncased.id_to_token(i) for i in ours(uncased, [text])[0]]
    assert got[-1].endswith("σ")
    assert any("Final sigma" in d for d in normalizer.KNOWN_DIFFERENCES)


def test_invalid_utf8_is_dropped_like_the_original(uncased, minilm_vocab_path):
    ref = reference_tokenizer(minilm_vocab_path, lower_case=True)
    rng = np.random.default_rng(0)
    good = "héllo wörld 日本 ok 😀".encode()
    samples = [
        b"hel\xfflo",
        b"\xe6\x97",
        b"a\xf0\x9f\x98b",
        b"\xed\xa0\x80x",
        b"\xc0\xafz",
        b"\x80\x80",
    ]
    for _ in range(500):  # Random bad bytes and truncations of valid text.
        data = bytearray(good)
        for _ in range(rng.integers(1, 4)):
            data.insert(rng.integers(0, len(data) + 1), rng.integers(0x80, 0x100))
        samples.append(bytes(data[: rng.integers(0, len(data) + 1)]))
    # The original decodes with errors="ignore"; so do we, in the graph.
    expected = [ref.convert_tokens_to_ids(ref.tokenize(s)) for s in samples]
    assert not mismatches(samples, ours(uncased, samples), expected)


def test_stock_tf_text_differs_where_we_do_not(minilm_vocab_path):
    """Why the custom table exists: stock FastBertTokenizer folds ß and ´."""
    import tensorflow_text as tf_text

    from bert_tf.text import load_vocabulary

    vocab = load_vocabulary(minilm_vocab_path)
    stock = tf_text.FastBertTokenizer(
        vocab, lower_case_nfd_strip_accents=True, max_bytes_per_word=200
    )
    ref = reference_tokenizer(minilm_vocab_path, lower_case=True)
    ours_tok = BertTokenizer(vocab, lower_case=True)
    for text in ["Fuß", "it´s"]:
        want = ref.convert_tokens_to_ids(ref.tokenize(text))
        assert stock.tokenize([text]).to_list()[0] != want
        assert ours(ours_tok, [text])[0] == want


def test_long_words_follow_the_200_character_rule(uncased):
    ids = ours(uncased, ["x" * 200, "y" * 201, "é" * 150, "日" * 300])
    unk = uncased.token_to_id("[UNK]")
    assert unk not in ids[0] and len(ids[0]) > 1
    assert ids[1] == [unk]
    assert unk not in ids[2]  # 300 bytes, but 150 characters.
    assert ids[3] == [uncased.token_to_id("日")] * 300  # Each CJK is a word.


@pytest.mark.parametrize("max_chars", [7, 8, 9, 15, 16, 17, 24, 31, 33])
def test_long_word_test_never_skips_a_long_word(max_chars):
    # Pieces of exactly the longest length (8 characters), so a word just over
    # the limit has the fewest pieces the batch-level test allows for; each
    # word alone in its batch, as that test decides per batch.
    vocab = ["[UNK]", "[CLS]", "b", "a" * 8, "##" + "a" * 8]
    tokenizer = BertTokenizer(vocab, lower_case=True, max_chars_per_word=max_chars)
    for pieces in range(1, 6):
        word = "a" * 8 * pieces
        want = [0] if len(word) > max_chars else [3] + [4] * (pieces - 1)
        assert ours(tokenizer, [word])[0] == want, word
        assert tokenizer.tokenize_with_offsets(tf.constant([word]))[0].to_list() == [want]
        assert ours(tokenizer, ["b", f"b {word} b"])[1] == [2] + want + [2], word


def test_offsets_point_at_the_token_text(uncased, stdlib_lines):
    texts = [t for t in stdlib_lines[:3000] if t.isascii()][:1000]
    ids, starts, ends = uncased.tokenize_with_offsets(tf.constant(texts))
    for text, row, row_s, row_e in zip(texts, ids.to_list(), starts.to_list(), ends.to_list()):
        data = text.encode()
        for i, s, e in zip(row, row_s, row_e):
            piece = uncased.id_to_token(i)
            if piece == "[UNK]":
                continue
            assert data[s:e].decode().lower() == piece.removeprefix("##"), (
                text,
                piece,
            )


def test_offsets_of_accented_and_long_words(uncased):
    text = "Café " + "y" * 201 + " ok"
    ids, starts, ends = uncased.tokenize_with_offsets(tf.constant([text]))
    tokens = [uncased.id_to_token(i) for i in ids.to_list()[0]]
    spans = list(zip(starts.to_list()[0], ends.to_list()[0]))
    data = text.encode()
    assert tokens == ["cafe", "[UNK]", "ok"]
    assert [data[s:e].decode() for s, e in spans] == ["Café", "y" * 201, "ok"]


def test_scalar_input_and_detokenize(uncased):
    ids = uncased("The quick brown fox.")
    assert ids.shape.rank == 1
    assert uncased.detokenize(ids).numpy().decode() == "the quick brown fox ."


def test_casing_mismatch_is_reported(minilm_vocab_path, cased_vocab_path):
    with pytest.raises(ValueError, match="lower_case=False.*uncased"):
        BertTokenizer(minilm_vocab_path, lower_case=False)
    with pytest.raises(ValueError, match="lower_case=True.*cased"):
        BertTokenizer(cased_vocab_path, lower_case=True)


def test_casing_is_never_guessed(tiny_vocab):
    with pytest.raises(TypeError):
        BertTokenizer(tiny_vocab)


def test_bad_vocabularies_are_named(tmp_path, tiny_vocab):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        BertTokenizer(str(tmp_path / "nope.txt"), lower_case=True)
    dup = tmp_path / "dup.txt"
    dup.write_text("\n".join(tiny_vocab + ["fox"]) + "\n")
    with pytest.raises(ValueError, match=r"dup.txt.*'fox'.*lines 9 and 29"):
        BertTokenizer(str(dup), lower_case=True)
    with pytest.raises(ValueError, match="unknown_token"):
        BertTokenizer([t for t in tiny_vocab if t != "[UNK]"], lower_case=True)


def test_bad_inputs_are_named(tiny_vocab):
    tokenizer = BertTokenizer(tiny_vocab, lower_case=True)
    with pytest.raises(TypeError, match="int32"):
        tokenizer(tf.constant([1, 2]))
    with pytest.raises(ValueError, match=r"\(2, 1\)"):
        tokenizer(tf.constant([["a"], ["b"]]))
    with pytest.raises(TypeError, match="text"):
        tokenizer(object())


def test_config_round_trip(tiny_vocab):
    tokenizer = BertTokenizer(tiny_vocab, lower_case=True, max_chars_per_word=5, name="tok")
    config = tokenizer.get_config()
    restored = BertTokenizer.from_config(config)
    assert restored.get_config() == config
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(tokenizer))
    text = ["The quick brown foxes jumped!", "unaffable abc"]
    assert again(text).to_list() == tokenizer(text).to_list()


def test_runs_in_tf_data_and_tf_function(tiny_vocab):
    tokenizer = BertTokenizer(tiny_vocab, lower_case=True)
    ds = tf.data.Dataset.from_tensor_slices(["the fox", "a dog"]).batch(2)
    got = next(iter(ds.map(tokenizer))).to_list()
    assert got == [[5, 8], [18, 14]]
    fn = tf.function(tokenizer.tokenize, input_signature=[tf.TensorSpec([None], tf.string)])
    assert fn(tf.constant(["hello world"])).to_list() == [[21, 22]]
