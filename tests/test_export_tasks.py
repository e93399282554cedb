"""Raw-string task SavedModels: classifier, regressor, NER, embedder, fill-mask.

Each export is written with `save_serving_module` from a folder (or objects)
whose source vocabulary is deleted before loading, and the loaded
`serving_default` is compared with the Keras model fed by bert_tf's
Python-side pipeline (`BertPreprocessor`, `bert_tf.tasks.ner.make_dataset`,
`predict_tags`, `get_entities`).
"""

import json
import os
import shutil
import unicodedata

import keras
import numpy as np
import pytest
import serving_test_base as stb
import tasks_testing
import tensorflow as tf
import tensorflow_text  # noqa: F401  Registers TF-Text's ops for loading.

from bert_tf.export import task_serving
from bert_tf.heads import (
    BertClassifier,
    BertEmbedder,
    BertPretrainer,
    BertRegressor,
    BertTokenClassifier,
)
from bert_tf.tasks import common, ner
from bert_tf.text import BertPreprocessor, BertTokenizer, save_vocabulary

SEQ = 16
PAIR_A = ["The good film", "", "john smith lives in paris", "bad " * 30]
PAIR_B = ["was very good", "awful", "", "the dog"]
# The tiny vocab plus pieces of accented words (uncased: accents stripped).
VOCAB = tasks_testing.VOCAB + [
    "jose", "zur", "##ich", "koln", "straße", "tres", "bien", "[", "]", "日",
]  # fmt: skip
NER_LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
# Space-joined words (words = the tokenizer's basic tokens), multi-byte
# characters, and a text longer than SEQ - 2 pieces.
NER_TEXTS = [
    "José lives in Zürich",
    "john smith works at acme corp in new york",
    "Straße in Köln très bien",
    "",
    "the quick brown fox jumped over the lazy dog and the dog was not very good at all",
    "日 本 José",
]
BAD_TEXTS = [b"", b"\xff\xfe bad \xc3 \x80film", ("good " * 210_000).encode()]
TOKEN_IDS = {"token_ids": stb.PACKED_INPUTS, "preprocess": ["text"]}
TEXT_SIGNATURES = {"serving_default": ["text"], **TOKEN_IDS}


def _encoder():
    return tasks_testing.tiny_encoder(vocab_size=len(VOCAB))


def _write_task(root, name, model, info):
    """A `save_task` folder written from a vocab copy that is then deleted."""
    with stb.source_vocab(root, VOCAB, name + "_vocab") as vocab:
        return common.save_task(os.path.join(root, name), model, vocab, info)


def _export(module, root):
    export_dir = os.path.join(root, "export", "1")
    audit = task_serving.save_serving_module(module, export_dir)
    return export_dir, audit


def _tokenizer(directory):
    path = save_vocabulary(VOCAB, os.path.join(directory, "vocab.txt"))
    return BertTokenizer(path, lower_case=True)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return _tokenizer(str(tmp_path_factory.mktemp("tok")))


# ---------------------------------------------------------------------------
# Classifier and regressor.


@pytest.fixture(scope="module")
def pair_classifier(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("clf"))
    model = BertClassifier(_encoder(), num_classes=3)
    labels = ["negative", "neutral", "positive"]
    info = {
        "task": "classify",
        "regression": False,
        "labels": labels,
        "text_columns": ["sentence1", "sentence2"],
        "max_seq_length": SEQ,
        "do_lower_case": True,
    }
    folder = _write_task(root, "model", model, info)
    module = task_serving.build_serving_module(folder)
    export_dir, audit = _export(module, root)
    shutil.rmtree(folder)  # The export must not need the model folder.
    return dict(
        model=model,
        labels=labels,
        loaded=stb.load_without_source(export_dir, folder),
        dir=export_dir,
        folder=folder,
        audit=audit,
    )


def test_pair_classifier_matches_keras(pair_classifier, tokenizer):
    c = pair_classifier
    preprocessor = BertPreprocessor(tokenizer, seq_length=SEQ)
    expected = c["model"](
        preprocessor([tf.constant(PAIR_A), tf.constant(PAIR_B)]),
        training=False,
    ).numpy()
    out = c["loaded"].signatures["serving_default"](
        text_a=tf.constant(PAIR_A), text_b=tf.constant(PAIR_B)
    )
    np.testing.assert_allclose(out["logits"].numpy(), expected, atol=1e-5)
    probs = np.exp(expected) / np.exp(expected).sum(-1, keepdims=True)
    np.testing.assert_allclose(out["probabilities"].numpy(), probs, atol=1e-6)
    ids = expected.argmax(-1)
    assert out["label_ids"].numpy().tolist() == ids.tolist()
    assert out["label_ids"].dtype == tf.int32
    assert [n.decode() for n in out["label_names"].numpy()] == [c["labels"][i] for i in ids]
    assert c["audit"]["tf_text"] == [
        "FastBertNormalize",
        "FastWordpieceTokenizeWithOffsets",
    ]
    # The extra signatures: TF Hub preprocessing and the id-level model.
    packed = c["loaded"].signatures["preprocess"](text=tf.constant(PAIR_A))
    expected_packed = preprocessor(tf.constant(PAIR_A))
    for key, value in expected_packed.items():
        np.testing.assert_array_equal(packed[key], value)
    by_ids = c["loaded"].signatures["token_ids"](**expected_packed)
    np.testing.assert_allclose(by_ids["outputs"], c["model"](expected_packed), atol=1e-5)
    stb.check_signatures(
        c["loaded"], {"serving_default": ["text_a", "text_b"], **TOKEN_IDS}, exact=True
    )
    stb.check_no_path_leak(c["dir"], c["folder"])
    stb.check_vocab_asset(c["dir"], VOCAB)


def test_pair_classifier_bad_input(pair_classifier):
    fn = pair_classifier["loaded"].signatures["serving_default"]
    stb.check_unequal_batches(
        fn, {"text_a": tf.constant(["a", "b"]), "text_b": tf.constant(["c"])}, "same batch size"
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a string tensor"):
        fn(text_a=tf.constant([1, 2]), text_b=tf.constant(["c", "d"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="tensor text_b"):
        fn(text_a=tf.constant(["a"]), text_b=tf.constant([["c"]]))
    got = stb.check_batches(
        fn,
        lambda n: dict(
            text_a=tf.constant(PAIR_A[:n], tf.string), text_b=tf.constant(PAIR_B[:n], tf.string)
        ),
    )
    assert got[0]["logits"].shape == (0, 3)
    assert got[0]["label_names"].shape == (0,)
    odd = fn(text_a=tf.constant(BAD_TEXTS), text_b=tf.constant(BAD_TEXTS[::-1]))
    assert odd["logits"].shape == (3, 3)
    assert np.isfinite(odd["probabilities"].numpy()).all()


def test_regressor_folder_single_text(tmp_path, tokenizer):
    model = BertRegressor(_encoder(), num_outputs=2)
    folder = _write_task(
        str(tmp_path),
        "reg",
        model,
        {
            "task": "classify",
            "regression": True,
            "labels": None,
            "text_columns": ["sentence"],
            "max_seq_length": SEQ,
            "do_lower_case": True,
        },
    )
    module = task_serving.build_serving_module(folder)
    assert isinstance(module, task_serving.ClassifierServing)
    texts = tf.constant(PAIR_A)
    out = module.serve(texts)  # Traced graph, in process (no export).
    expected = model(BertPreprocessor(tokenizer, seq_length=SEQ)(texts), training=False)
    assert sorted(out) == ["predictions"]
    np.testing.assert_allclose(out["predictions"], expected, atol=1e-5)


def test_build_rejects_unknown_task_and_bad_labels(tmp_path, tokenizer):
    folder = str(tmp_path / "m")
    os.makedirs(folder)
    with open(os.path.join(folder, "task.json"), "w") as f:
        json.dump({"task": "translate"}, f)
    with pytest.raises(ValueError, match="'translate'"):
        task_serving.build_serving_module(folder)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        task_serving.build_serving_module(str(tmp_path / "nowhere"))
    model = BertTokenClassifier(_encoder(), num_classes=2)
    tok = tokenizer
    with pytest.raises(ValueError, match="IOB2.*'PER'"):
        task_serving.TokenClassifierServing(model, tok, SEQ, ["O", "PER"])
    with pytest.raises(ValueError, match="3 labels"):
        task_serving.TokenClassifierServing(model, tok, SEQ, ["O", "B-X", "I-X"])


# ---------------------------------------------------------------------------
# Token classification (NER).


@pytest.fixture(scope="module")
def ner_export(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ner"))
    keras.utils.set_random_seed(7)
    model = BertTokenClassifier(_encoder(), num_classes=len(NER_LABELS))
    # Larger logits: predictions vary by token and no argmax is a near tie.
    layer = model.get_layer("logits")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * 300.0, bias])
    info = {
        "task": "ner",
        "labels": NER_LABELS,
        "max_seq_length": SEQ,
        "do_lower_case": True,
    }
    folder = _write_task(root, "model", model, info)
    export_dir, audit = _export(task_serving.build_serving_module(folder), root)
    shutil.rmtree(folder)
    return dict(
        model=model,
        loaded=stb.load_without_source(export_dir, folder),
        dir=export_dir,
        folder=folder,
        audit=audit,
        root=root,
    )


def _python_entities(model, tokenizer, texts):
    """Entities by bert_tf.tasks.ner's Python path, as character spans."""
    words = [t.split(" ") if t else [] for t in texts]
    ds = ner.make_dataset(tokenizer, words, None, SEQ, batch_size=4)
    tags = ner._trim(ner.predict_tags(model, ds, NER_LABELS), words)
    result = []
    for ws, ts in zip(words, tags):
        starts = np.cumsum([0] + [len(w) + 1 for w in ws])
        result.append(
            [
                (kind, int(starts[a]), int(starts[b] + len(ws[b])))
                for kind, a, b in ner.get_entities(ts)
            ]
        )
    return result


def _strip_accents(text):
    return "".join(
        c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn"
    )


def test_ner_matches_python_grouping(ner_export, tokenizer):
    e = ner_export
    out = e["loaded"].signatures["serving_default"](text=tf.constant(NER_TEXTS))
    out = {k: v.numpy() for k, v in out.items()}
    expected = _python_entities(e["model"], tokenizer, NER_TEXTS)
    assert sum(map(len, expected)) >= 5  # The comparison has entities.
    for b, text in enumerate(NER_TEXTS):
        n = out["num_entities"][b]
        got = [
            (
                out["entity_types"][b, i].decode(),
                int(out["entity_starts"][b, i]),
                int(out["entity_ends"][b, i]),
            )
            for i in range(n)
        ]
        assert got == expected[b], text
        for i, (_, start, end) in enumerate(got):
            assert out["entity_texts"][b, i].decode() == text[start:end]
            assert 0.0 < out["entity_scores"][b, i] <= 1.0
        assert (out["entity_types"][b, n:] == b"").all()
        assert (out["entity_starts"][b, n:] == -1).all()
    # Entities on multi-byte words are cut at character offsets.
    texts = [t.decode() for t in out["entity_texts"][out["entity_texts"] != b""]]
    assert any(not t.isascii() for t in texts), texts
    assert e["audit"]["tf_text"] == [
        "FastBertNormalize",
        "FastWordpieceTokenizeWithOffsets",
        "TFText>ByteSplitByOffsets",
        "TFText>ByteSplitWithOffsets",
    ]
    stb.check_signatures(e["loaded"], TEXT_SIGNATURES, exact=True)
    stb.check_no_path_leak(e["dir"], e["folder"])
    stb.check_vocab_asset(e["dir"], VOCAB)


def test_ner_tokens_labels_and_offsets(ner_export, tokenizer):
    e = ner_export
    out = e["loaded"].signatures["serving_default"](text=tf.constant(NER_TEXTS))
    out = {k: v.numpy() for k, v in out.items()}
    packed = BertPreprocessor(tokenizer, seq_length=SEQ)(tf.constant(NER_TEXTS))
    logits = e["model"](packed, training=False).numpy()  # [B, S, C]
    ids, _, _ = tokenizer.tokenize_with_offsets(tf.constant(NER_TEXTS))
    for b, text in enumerate(NER_TEXTS):
        pieces = ids[b].numpy()
        n = len(pieces)
        assert out["num_tokens"][b] == n
        assert [t.decode() for t in out["tokens"][b, :n]] == [VOCAB[i] for i in pieces]
        labelled = min(n, SEQ - 2)
        want = logits[b, 1 : labelled + 1].argmax(-1)
        assert out["token_label_ids"][b, :labelled].tolist() == want.tolist()
        assert [t.decode() for t in out["token_labels"][b, :labelled]] == [
            NER_LABELS[i] for i in want
        ]
        # Beyond S - 2 pieces: no label.
        assert (out["token_label_ids"][b, labelled:] == -1).all()
        assert (out["token_labels"][b, labelled:] == b"").all()
        for j, piece in enumerate(pieces):
            start, end = out["token_starts"][b, j], out["token_ends"][b, j]
            if VOCAB[piece] != "[UNK]":
                assert _strip_accents(text[start:end]) == VOCAB[piece].removeprefix("##"), (text, j)
    assert out["tokens"].shape[1] == max(len(r) for r in ids.to_list())


def _serve_text_checks(fn):
    """Bad and edge input through a `text` signature: clear errors or
    well-formed output."""
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a string tensor"):
        fn(text=tf.constant([1.0]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="tensor text .1,1. is not comp"):
        fn(text=tf.constant([["a"]]))
    stb.check_batches(fn, lambda n: dict(text=tf.constant(PAIR_A[:n], tf.string)))
    return stb.check_batches(fn, lambda n: dict(text=tf.constant(BAD_TEXTS)), sizes=(3,))[3]


def test_ner_bad_input(ner_export):
    out = _serve_text_checks(ner_export["loaded"].signatures["serving_default"])
    # "\xff\xfe bad \xc3 \x80film": offsets count lead bytes as characters.
    assert out["tokens"][1, :2].tolist() == [b"bad", b"film"]
    assert out["token_starts"][1, :2].tolist() == [3, 9]
    assert out["num_tokens"][2] == 210_000
    assert out["num_entities"][0] == 0


def test_ner_reexport_of_loaded_savedmodel(ner_export):
    loaded = ner_export["loaded"]
    again = os.path.join(ner_export["root"], "again")
    task_serving.save_serving_module(loaded, again)
    reloaded = tf.saved_model.load(again)
    texts = tf.constant(NER_TEXTS)
    first = loaded.signatures["serving_default"](text=texts)
    second = reloaded.signatures["serving_default"](text=texts)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert set(reloaded.signatures) == set(loaded.signatures)
    stb.check_signatures(reloaded, TEXT_SIGNATURES, exact=True)
    stb.check_vocab_asset(again, VOCAB)


class _Upper(tf.Module):
    """A cheap module with `signatures()`, for the folder-swap rules."""

    def __init__(self, suffix):
        super().__init__()
        self.suffix = suffix

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(self, text):
        return {"out": tf.strings.join([tf.strings.upper(text), self.suffix])}

    def signatures(self):
        return {"serving_default": self.serve.get_concrete_function()}


def test_save_keeps_an_existing_folder_unless_overwrite(tmp_path):
    target = str(tmp_path / "model" / "1")
    audit = task_serving.save_serving_module(_Upper("!"), target)
    assert audit["tf_text"] == [] and "StringUpper" in audit["core"]
    before = sorted(os.listdir(target))
    with pytest.raises(FileExistsError, match="overwrite"):
        task_serving.save_serving_module(_Upper("?"), target)
    assert sorted(os.listdir(target)) == before
    task_serving.save_serving_module(_Upper("?"), target, overwrite=True)
    out = tf.saved_model.load(target).signatures["serving_default"](tf.constant(["a"]))
    assert out["out"].numpy().tolist() == [b"A?"]
    # Nothing is left beside the target (no temporary or old folders).
    assert os.listdir(tmp_path / "model") == ["1"]


class _Lookup(keras.layers.Layer):
    """Logits chosen per token id: a model whose tags the test controls."""

    def __init__(self, table, **kwargs):
        super().__init__(**kwargs)
        self.table = np.asarray(table, np.float32)

    def call(self, ids):
        return tf.gather(self.table, ids)


def test_ner_iob2_grouping_rules(tokenizer):
    """I after O starts a chunk, a type change splits it, `##` pieces join
    their word (their own label is ignored), as get_entities / seqeval."""
    tag_of = {
        "john": "B-PER",
        "smith": "I-PER",
        "lives": "I-PER",  # I after I of the same type: continues.
        "in": "O",
        "new": "I-LOC",  # I after O: starts a chunk.
        "york": "I-PER",  # Type change: a new chunk.
        "jose": "B-PER",
        "zur": "B-LOC",
        "##ich": "O",  # Ignored: "Zürich" is one word, labelled B-LOC.
        "paris": "B-LOC",
        "london": "B-LOC",  # B after B: a new chunk.
    }
    table = np.zeros([len(VOCAB), len(NER_LABELS)], np.float32)
    table[:, 0] = 1.0
    for token, tag in tag_of.items():
        table[VOCAB.index(token)] = 0.0
        table[VOCAB.index(token), NER_LABELS.index(tag)] = 1.0
    inputs = {
        name: keras.Input([None], dtype="int32", name=name)
        for name in ("input_word_ids", "input_mask", "input_type_ids")
    }
    model = keras.Model(inputs, _Lookup(table)(inputs["input_word_ids"]))
    module = task_serving.TokenClassifierServing(model, tokenizer, SEQ, NER_LABELS)
    texts = [
        "John Smith lives in new York",
        "José in Zürich",
        "Paris London",
        "in José",
    ]
    out = module.serve(tf.constant(texts))
    for b, text in enumerate(texts):
        words = text.split(" ")
        tags = [
            tag_of.get(VOCAB[tokenizer.tokenize([w]).to_list()[0][0]], "O")  # A word's first piece.
            for w in words
        ]
        starts = np.cumsum([0] + [len(w) + 1 for w in words])
        expected = [
            (t, text[starts[i] : starts[j] + len(words[j])]) for t, i, j in ner.get_entities(tags)
        ]
        got = [
            (
                out["entity_types"][b, i].numpy().decode(),
                out["entity_texts"][b, i].numpy().decode(),
            )
            for i in range(out["num_entities"][b])
        ]
        assert got == expected, text
    assert got == [("PER", "José")]
    assert [e.decode() for e in out["entity_texts"][0].numpy()] == [
        "John Smith lives",
        "new",
        "York",
    ]


# ---------------------------------------------------------------------------
# Embedder and fill-mask.


@pytest.fixture(scope="module")
def embedder_export(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("emb"))
    embedder = BertEmbedder(_encoder(), pooling="mean", normalize=True)
    loaded, export_dir, src, _ = stb.export_without_source(
        root,
        VOCAB,
        lambda vocab: task_serving.EmbedderServing.from_encoder(
            embedder, vocab, lower_case=True, seq_length=SEQ
        ),
        lambda module: _export(module, root)[0],
    )
    return dict(embedder=embedder, loaded=loaded, dir=export_dir, src=src)


def test_embedder_matches_keras(embedder_export, tokenizer):
    e = embedder_export
    texts = tf.constant(NER_TEXTS + PAIR_A)
    out = e["loaded"].signatures["serving_default"](text=texts)
    inputs = BertPreprocessor(tokenizer, seq_length=SEQ)(texts)
    encoded = e["embedder"].encoder(inputs)
    np.testing.assert_allclose(out["pooled_output"], encoded["pooled_output"], atol=1e-5)
    # sentence-transformers' mean pooling, in NumPy.
    mask = inputs["input_mask"].numpy()[:, :, None].astype(np.float32)
    seq = encoded["sequence_output"].numpy()
    mean = (seq * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
    np.testing.assert_allclose(out["mean_pooled"], mean, atol=1e-5)
    unit = mean / np.linalg.norm(mean, axis=-1, keepdims=True)
    np.testing.assert_allclose(out["embeddings"], unit, atol=1e-5)
    np.testing.assert_allclose(
        e["loaded"].signatures["token_ids"](**inputs)["outputs"],
        unit,
        atol=1e-5,
    )
    stb.check_signatures(e["loaded"], TEXT_SIGNATURES, exact=True)
    stb.check_no_path_leak(e["dir"], e["src"], "bert_tf_vocab_")
    stb.check_vocab_asset(e["dir"], VOCAB)
    _serve_text_checks(e["loaded"].signatures["serving_default"])


def _python_fill_mask(pretrainer, tokenizer, texts, k):
    """Reference: tokenize the text between literal [MASK]s, join with the
    [MASK] id, pack, run the Keras pretrainer, top-k of the softmax."""
    special = tokenizer.special_token_ids()
    rows = []
    for text in texts:
        ids = []
        for i, part in enumerate(text.split("[MASK]")):
            if i:
                ids.append(special["mask_id"])
            ids += tokenizer.tokenize([part]).to_list()[0]
        ids = ids[: SEQ - 2]
        row = [special["start_of_sequence_id"]] + ids
        row += [special["end_of_segment_id"]]
        rows.append(row + [special["padding_id"]] * (SEQ - len(row)))
    word_ids = np.array(rows, np.int32)
    positions = [np.flatnonzero(r == special["mask_id"]) for r in word_ids]
    width = max(len(p) for p in positions)
    padded = np.zeros([len(texts), width], np.int32)
    for b, p in enumerate(positions):
        padded[b, : len(p)] = p
    out = pretrainer(
        {
            "input_word_ids": word_ids,
            "input_mask": (word_ids != 0).astype(np.int32),
            "input_type_ids": np.zeros_like(word_ids),
            "masked_lm_positions": padded,
        }
    )
    probs = tf.nn.softmax(out["mlm_logits"]).numpy()
    result = []
    for b, p in enumerate(positions):
        order = np.argsort(-probs[b, : len(p)], axis=-1, kind="stable")[:, :k]
        scores = np.take_along_axis(probs[b, : len(p)], order, -1)
        result.append((p.tolist(), order, scores))
    return result


@pytest.fixture(scope="module")
def fill_mask_export(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("mlm"))
    keras.utils.set_random_seed(3)
    pretrainer = BertPretrainer(_encoder())
    loaded, export_dir, src, _ = stb.export_without_source(
        root,
        VOCAB,
        lambda vocab: task_serving.FillMaskServing.from_pretrainer(
            pretrainer, vocab, lower_case=True, seq_length=SEQ, top_k=4
        ),
        lambda module: _export(module, root)[0],
    )
    return dict(pretrainer=pretrainer, loaded=loaded, dir=export_dir, src=src)


def test_fill_mask_matches_keras(fill_mask_export, tokenizer):
    e = fill_mask_export
    texts = [
        "the [MASK] fox jumped over the [MASK] dog.",
        "no mask here",
        "José[MASK]Zürich [mask] [MASK][MASK]",
        "[MASK]",
        "the dog " * 6 + "the [MASK] [MASK]",  # The 2nd [MASK] is cut off.
    ]
    out = e["loaded"].signatures["serving_default"](text=tf.constant(texts))
    out = {k: v.numpy() for k, v in out.items()}
    expected = _python_fill_mask(e["pretrainer"], tokenizer, texts, 4)
    assert out["num_masks"].tolist() == [len(p) for p, _, _ in expected]
    assert out["num_masks"].tolist() == [2, 0, 3, 1, 1]
    for b, (positions, ids, scores) in enumerate(expected):
        m = len(positions)
        assert out["mask_positions"][b, :m].tolist() == positions
        assert (out["mask_positions"][b, m:] == -1).all()
        np.testing.assert_allclose(out["top_k_scores"][b, :m], scores, atol=1e-6)
        np.testing.assert_array_equal(out["top_k_ids"][b, :m], ids)
        assert [[t.decode() for t in r] for r in out["top_k_tokens"][b, :m]] == [
            [VOCAB[i] for i in r] for r in ids
        ]
        assert (out["top_k_tokens"][b, m:] == b"").all()
    assert out["top_k_ids"].shape[2] == 4
    stb.check_signatures(
        e["loaded"],
        dict(TEXT_SIGNATURES, token_ids=stb.PACKED_INPUTS + ["masked_lm_positions"]),
        exact=True,
    )
    stb.check_no_path_leak(e["dir"], e["src"])
    stb.check_vocab_asset(e["dir"], VOCAB)
    _serve_text_checks(e["loaded"].signatures["serving_default"])
