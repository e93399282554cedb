"""Raw-string task SavedModels: classifier, regressor, NER, embedder, fill-mask.

Each export is written with `save_serving_module` from a folder (or objects)
whose source vocabulary is deleted before loading, and the loaded
`serving_default` is compared with the Keras model fed by bert_tf's
Python-side pipeline (`BertPreprocessor`, `bert_tf.tasks.ner.align_words`,
`get_entities`).
"""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  Registers TF-Text's ops for loading.

import tasks_testing
from bert_tf.export import task_serving
from bert_tf.heads import BertClassifier
from bert_tf.heads import BertRegressor
from bert_tf.tasks import common
from bert_tf.text import BertPreprocessor

SEQ = 16
PAIR_A = ["The good film", "", "john smith lives in paris", "bad " * 30]
PAIR_B = ["was very good", "awful", "", "the dog"]


def _write_task(root, name, model, info):
    """A `save_task` folder from a fresh copy of the tiny vocab."""
    src = os.path.join(root, name + "_vocab")
    os.makedirs(src)
    vocab = tasks_testing.write_vocab(src)
    folder = common.save_task(os.path.join(root, name), model, vocab, info)
    shutil.rmtree(src)
    return folder


def _export_and_load(module_or_dir, export_dir):
    if isinstance(module_or_dir, str):
        source = module_or_dir
        module = task_serving.build_serving_module(source)
    else:
        source, module = None, module_or_dir
    audit = task_serving.save_serving_module(module, export_dir)
    if source:
        shutil.rmtree(source)  # The export must not need the source folder.
    return tf.saved_model.load(export_dir), audit


def _assert_no_leak(export_dir, *paths):
    for root, _, files in os.walk(export_dir):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            for path in paths:
                assert path.encode() not in data, (name, path)


def _assert_batch_none(loaded):
    for name, fn in loaded.signatures.items():
        _, inputs = fn.structured_input_signature
        for spec in inputs.values():
            assert spec.shape[0] is None, (name, spec)
        for key, spec in fn.structured_outputs.items():
            if spec.shape.rank:
                assert spec.shape[0] is None, (name, key, spec)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return tasks_testing.tokenizer(str(tmp_path_factory.mktemp("tok")))


@pytest.fixture(scope="module")
def pair_classifier(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("clf"))
    model = BertClassifier(tasks_testing.tiny_encoder(), num_classes=3)
    labels = ["negative", "neutral", "positive"]
    folder = _write_task(
        root,
        "model",
        model,
        {
            "task": "classify",
            "regression": False,
            "labels": labels,
            "text_columns": ["sentence1", "sentence2"],
            "max_seq_length": SEQ,
            "do_lower_case": True,
        },
    )
    export_dir = os.path.join(root, "export", "1")
    loaded, audit = _export_and_load(folder, export_dir)
    return dict(
        model=model,
        labels=labels,
        loaded=loaded,
        dir=export_dir,
        root=root,
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
    assert [n.decode() for n in out["label_names"].numpy()] == [
        c["labels"][i] for i in ids
    ]
    assert c["audit"]["tf_text"] == [
        "FastBertNormalize",
        "FastWordpieceTokenizeWithOffsets",
    ]
    _assert_batch_none(c["loaded"])
    _assert_no_leak(c["dir"], c["root"])
    with open(os.path.join(c["dir"], "assets", "vocab.txt")) as f:
        assert f.read().split() == tasks_testing.VOCAB


def test_pair_classifier_bad_input(pair_classifier):
    fn = pair_classifier["loaded"].signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="same batch size"):
        fn(text_a=tf.constant(["a", "b"]), text_b=tf.constant(["c"]))
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="expected to be a string tensor"
    ):
        fn(text_a=tf.constant([1, 2]), text_b=tf.constant(["c", "d"]))
    empty = fn(
        text_a=tf.constant([], tf.string), text_b=tf.constant([], tf.string)
    )
    assert empty["logits"].shape == (0, 3)
    assert empty["label_names"].shape == (0,)
    odd = fn(
        text_a=tf.constant([b"\xff\xfe bad \xc3", b"", "good " * 200_000]),
        text_b=tf.constant([b"", b"\x80", b"film"]),
    )
    assert odd["logits"].shape == (3, 3)
    assert np.isfinite(odd["probabilities"].numpy()).all()


def test_regressor_in_process(tokenizer):
    model = BertRegressor(tasks_testing.tiny_encoder(), num_outputs=2)
    module = task_serving.ClassifierServing(
        model, tokenizer, SEQ, regression=True
    )
    texts = tf.constant(PAIR_A)
    out = module.serve(texts)
    expected = model(
        BertPreprocessor(tokenizer, seq_length=SEQ)(texts), training=False
    )
    assert sorted(out) == ["predictions"]
    np.testing.assert_allclose(out["predictions"], expected, atol=1e-5)
