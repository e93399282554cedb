"""Task heads: shapes, math against NumPy, weight tying, config round trips."""

import math

import keras
import numpy as np
import pytest
from encoder_testing import BATCH, SEQ, TINY, erf, randomize, tiny_encoder, tiny_inputs, to_numpy

from bert_tf.heads import (
    BertClassifier,
    BertEmbedder,
    BertPretrainer,
    BertRegressor,
    BertSpanLabeler,
    BertTokenClassifier,
    SpanLogits,
)

HEADS = [
    (BertPretrainer, {}),
    (BertClassifier, {"num_classes": 3, "dropout": 0.2}),
    (BertRegressor, {"num_outputs": 2}),
    (BertTokenClassifier, {"num_classes": 5}),
    (BertSpanLabeler, {}),
    (BertEmbedder, {"pooling": "cls", "normalize": True}),
]


def _inputs_for(model, x):
    if isinstance(model, BertPretrainer):
        x = dict(x, masked_lm_positions=np.array([[1, 2], [0, 7], [3, 3]], "int32"))
    return x


def test_pretrainer_matches_numpy():
    enc = tiny_encoder()
    model = BertPretrainer(enc)
    randomize(model, seed=3)
    x = _inputs_for(model, tiny_inputs())
    out = to_numpy(model(x))
    assert out["mlm_logits"].shape == (BATCH, 2, TINY["vocab_size"])
    assert out["nsp_logits"].shape == (BATCH, 2)
    enc_out = to_numpy(enc(tiny_inputs()))
    seq, pooled = enc_out["sequence_output"], enc_out["pooled_output"]
    head = model.masked_lm_head
    gathered = np.take_along_axis(seq, x["masked_lm_positions"][:, :, None], axis=1)
    h = gathered @ head._intermediate_dense.kernel.numpy() + head._intermediate_dense.bias.numpy()
    h = 0.5 * h * (1 + erf(h / math.sqrt(2)))  # exact GELU, as BERT
    mu = h.mean(-1, keepdims=True)
    var = ((h - mu) ** 2).mean(-1, keepdims=True)
    ln = head._intermediate_layer_norm
    h = (h - mu) / np.sqrt(var + 1e-12) * ln.gamma.numpy() + ln.beta.numpy()
    # Output projection tied to the word embeddings, plus an output bias.
    logits = h @ enc.word_embeddings.embeddings.numpy().T + head._bias.numpy()
    np.testing.assert_allclose(out["mlm_logits"], logits, atol=1e-4)
    nsp = model.next_sentence_head
    np.testing.assert_allclose(
        out["nsp_logits"], pooled @ nsp.kernel.numpy() + nsp.bias.numpy(), atol=1e-5
    )


def test_mlm_output_is_tied_to_word_embeddings():
    enc = tiny_encoder()
    model = BertPretrainer(enc)
    # The head uses the encoder's embedding variable itself, not a copy.
    shared = enc.word_embeddings.embeddings
    assert any(v is shared for v in model.masked_lm_head.weights)
    vocab = TINY["vocab_size"]
    assert [v for v in model.weights if vocab in v.shape] == [shared, model.masked_lm_head._bias]
    n_vars = len(model.weights)
    # Encoder + dense(2) + LN(2) + output bias + NSP(2): nothing else.
    assert n_vars == len(enc.weights) + 7


def test_classifier_and_regressor():
    enc = tiny_encoder()
    x = tiny_inputs()
    pooled = enc(x)["pooled_output"].numpy()
    clf = BertClassifier(enc, num_classes=3)
    dense = clf.get_layer("logits")
    np.testing.assert_allclose(
        clf(x).numpy(), pooled @ dense.kernel.numpy() + dense.bias.numpy(), atol=1e-5
    )
    reg = BertRegressor(enc)
    assert reg(x).shape == (BATCH, 1)


def test_token_classifier_and_span_labeler():
    enc = tiny_encoder()
    x = tiny_inputs()
    seq = enc(x)["sequence_output"].numpy()
    tok = BertTokenClassifier(enc, num_classes=5)
    assert tok(x).shape == (BATCH, SEQ, 5)
    span = BertSpanLabeler(enc)
    out = to_numpy(span(x))
    dense = span.get_layer("span_logits").dense
    logits = seq @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(out["start_logits"], logits[..., 0], atol=1e-5)
    np.testing.assert_allclose(out["end_logits"], logits[..., 1], atol=1e-5)


def test_embedder_poolings():
    enc = tiny_encoder()
    x = tiny_inputs()
    out = to_numpy(enc(x))
    seq, mask = out["sequence_output"], x["input_mask"].astype(np.float32)
    mean = (seq * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    np.testing.assert_allclose(BertEmbedder(enc)(x).numpy(), mean, atol=1e-5)
    np.testing.assert_allclose(BertEmbedder(enc, pooling="cls")(x).numpy(), seq[:, 0], atol=1e-6)
    np.testing.assert_allclose(
        BertEmbedder(enc, pooling="pooled")(x).numpy(), out["pooled_output"], atol=1e-6
    )
    unit = BertEmbedder(enc, normalize=True)(x).numpy()
    np.testing.assert_allclose(np.linalg.norm(unit, axis=-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="pooling='max'"):
        BertEmbedder(enc, pooling="max")


def test_heads_reject_non_encoder():
    with pytest.raises(TypeError, match="BertEncoder"):
        BertClassifier(keras.layers.Dense(2), num_classes=2)


@pytest.mark.parametrize("cls,kwargs", HEADS, ids=[c.__name__ for c, _ in HEADS])
def test_config_round_trip_and_keras_file(cls, kwargs, tmp_path):
    model = cls(tiny_encoder(), **kwargs)
    config = model.get_config()
    for key, value in kwargs.items():
        assert config[key] == value == getattr(model, key)
    clone = cls.from_config(config)
    assert clone.get_config() == config
    x = _inputs_for(model, tiny_inputs())
    path = str(tmp_path / "head.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is cls
    a, b = to_numpy(model(x)), to_numpy(loaded(x))
    for u, v in zip(keras.tree.flatten(a), keras.tree.flatten(b)):
        np.testing.assert_array_equal(u, v)


def test_span_logits_layer_config():
    layer = SpanLogits(initializer_range=0.1)
    assert SpanLogits.from_config(layer.get_config()).get_config() == layer.get_config()


def test_pretrainer_trains_one_step():
    enc = tiny_encoder(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertPretrainer(enc)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss={
            "mlm_logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "nsp_logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        },
        jit_compile=True,
    )
    x = _inputs_for(model, tiny_inputs())
    y = {"mlm_logits": np.array([[4, 5], [6, 7], [8, 9]]), "nsp_logits": np.array([0, 1, 0])}
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after[0] < before[0]


def test_heads_under_mixed_precision():
    enc = tiny_encoder(dtype="mixed_float16")
    pre = BertPretrainer(enc)
    out = pre(_inputs_for(pre, tiny_inputs()))
    assert np.all(np.isfinite(np.asarray(out["mlm_logits"], np.float32)))
    clf = BertClassifier(enc, num_classes=2)
    assert clf(tiny_inputs()).dtype == "float32"  # float32 logits
    emb = BertEmbedder(enc, normalize=True)(tiny_inputs())
    assert emb.dtype == "float32"
