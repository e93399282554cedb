"""BertEncoder and its layers: math, shapes, precision policies, XLA, saving."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from encoder_testing import TINY, erf, tiny_encoder, tiny_inputs, to_numpy

from bert_tf.checkpoints.mapping import extract_state
from bert_tf.config import BertConfig
from bert_tf.encoder import BertEncoder, build_encoder
from bert_tf.layers import (
    AttentionMaskBias,
    BertPooler,
    BertTransformerBlock,
    ClsTokenPooling,
    MaskedMeanPooling,
)


def _numpy_bert(state, config, x):
    """An independent float64 NumPy BERT (google-research/bert modeling.py math)."""
    st = {k: v.astype(np.float64) for k, v in state.items()}
    ids, mask, types = x["input_word_ids"], x["input_mask"], x["input_type_ids"]
    b, s = ids.shape
    n, d = config.num_attention_heads, config.head_size

    def ln(v, p):
        m = v.mean(-1, keepdims=True)
        var = ((v - m) ** 2).mean(-1, keepdims=True)
        return (v - m) / np.sqrt(var + config.layer_norm_eps) * st[p + "/gamma"] + st[p + "/beta"]

    def dense(v, p):
        return v @ st[p + "/kernel"] + st[p + "/bias"]

    h = (
        st["bert/embeddings/word_embeddings"][ids]
        + st["bert/embeddings/position_embeddings"][:s]
        + st["bert/embeddings/token_type_embeddings"][types]
    )
    h = ln(h, "bert/embeddings/LayerNorm")
    bias = (1.0 - mask[:, None, None, :]) * -10000.0
    layers, probs_all = [], []
    for i in range(config.num_hidden_layers):
        p = f"bert/encoder/layer_{i}"
        q = dense(h, p + "/attention/self/query").reshape(b, s, n, d)
        k = dense(h, p + "/attention/self/key").reshape(b, s, n, d)
        v = dense(h, p + "/attention/self/value").reshape(b, s, n, d)
        scores = np.einsum("bsnd,btnd->bnst", q, k) / math.sqrt(d) + bias
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        probs_all.append(probs)
        ctx = np.einsum("bnst,btnd->bsnd", probs, v).reshape(b, s, n * d)
        h = ln(h + dense(ctx, p + "/attention/output/dense"), p + "/attention/output/LayerNorm")
        inner = dense(h, p + "/intermediate/dense")
        inner = 0.5 * inner * (1.0 + erf(inner / math.sqrt(2.0)))  # exact GELU
        h = ln(h + dense(inner, p + "/output/dense"), p + "/output/LayerNorm")
        layers.append(h)
    pooled = np.tanh(dense(h[:, 0], "bert/pooler/dense"))
    return layers, pooled, probs_all


def test_matches_numpy_reference_math():
    enc = tiny_encoder(output_attention_probs=True)
    x = tiny_inputs()
    out = to_numpy(enc(x))
    layers, pooled, probs = _numpy_bert(extract_state(enc), enc.bert_config, x)
    np.testing.assert_allclose(out["sequence_output"], layers[-1], atol=2e-5)
    np.testing.assert_allclose(out["pooled_output"], pooled, atol=2e-5)
    assert len(out["encoder_outputs"]) == TINY["num_hidden_layers"]
    for ours, ref in zip(out["encoder_outputs"], layers):
        np.testing.assert_allclose(ours, ref, atol=2e-5)
    for ours, ref in zip(out["attention_probs"], probs):
        assert ours.shape == (3, 2, 8, 8) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, atol=1e-5)
    # Padded keys get no attention.
    assert np.all(out["attention_probs"][0][-1, :, :, 4:] == 0)


def test_any_batch_and_sequence_length():
    enc = tiny_encoder()
    for batch, seq in [(1, 1), (2, 5), (5, 8)]:
        out = enc(tiny_inputs(batch, seq))
        assert out["sequence_output"].shape == (batch, seq, 16)
        assert out["pooled_output"].shape == (batch, 16)
    # A prefix of the sequence is independent of later padded tokens.
    x = tiny_inputs(2, 8)
    x["input_mask"][:] = 1
    x["input_mask"][:, 5:] = 0
    short = {k: v[:, :5] for k, v in x.items()}
    np.testing.assert_allclose(
        enc(x)["sequence_output"].numpy()[:, :5],
        enc(short)["sequence_output"].numpy(),
        atol=1e-5,
    )


def test_too_long_sequence_fails():
    enc = tiny_encoder()
    # Keras or TF, depending on where the position table runs out.
    with pytest.raises(Exception):  # noqa: B017
        enc(tiny_inputs(1, 9))


def test_xla_and_graph_match_eager():
    enc = tiny_encoder()
    x = tiny_inputs()
    eager = to_numpy(enc(x))
    xla = to_numpy(tf.function(enc, jit_compile=True)(x))
    np.testing.assert_allclose(xla["sequence_output"], eager["sequence_output"], atol=1e-5)
    # Model.predict under compile(jit_compile=True), and another length.
    enc.compile(jit_compile=True)
    x5 = tiny_inputs(4, 5)
    pred = enc.predict(x5, verbose=0)
    np.testing.assert_allclose(pred["pooled_output"], enc(x5)["pooled_output"].numpy(), atol=1e-5)


@pytest.mark.parametrize("policy,atol", [("mixed_float16", 0.05), ("mixed_bfloat16", 0.2)])
def test_mixed_precision(policy, atol):
    ref = tiny_encoder()
    x = tiny_inputs()
    expected = ref(x)["sequence_output"].numpy()
    enc = BertEncoder(**TINY, dtype=policy, output_attention_probs=True)
    enc.set_weights(ref.get_weights())
    for fn in (enc, tf.function(enc, jit_compile=True)):
        out = fn(x)
        half = "float16" if policy == "mixed_float16" else "bfloat16"
        assert out["sequence_output"].dtype == half
        # Variables, softmax and LayerNorm statistics stay in float32.
        assert all(v.dtype == "float32" for v in enc.weights)
        assert out["attention_probs"][0].dtype == "float32"
        np.testing.assert_allclose(
            np.asarray(out["sequence_output"], np.float32), expected, atol=atol
        )
    block = enc.get_layer("transformer_layer_0")
    assert block.attention_layer_norm.compute_dtype == half
    assert block.attention_layer_norm.variable_dtype == "float32"


def test_dropout_only_in_training():
    enc = tiny_encoder(hidden_dropout_prob=0.5)
    x = tiny_inputs()
    a = enc(x, training=False)["sequence_output"].numpy()
    b = enc(x, training=False)["sequence_output"].numpy()
    c = enc(x, training=True)["sequence_output"].numpy()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_keras_save_and_reload(tmp_path):
    enc = tiny_encoder(output_attention_probs=True)
    x = tiny_inputs()
    path = str(tmp_path / "encoder.keras")
    enc.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, BertEncoder)
    a, b = to_numpy(enc(x)), to_numpy(loaded(x))
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(a[key], b[key])
    for u, v in zip(a["attention_probs"], b["attention_probs"]):
        np.testing.assert_array_equal(u, v)


def test_get_config_round_trip():
    enc = tiny_encoder(hidden_act="relu", layer_norm_eps=1e-6)
    config = enc.get_config()
    for key in BertConfig.__dataclass_fields__:
        assert config[key] == getattr(enc, key)
    clone = BertEncoder.from_config(config)
    assert clone.get_config() == config
    clone.set_weights(enc.get_weights())
    x = tiny_inputs()
    np.testing.assert_array_equal(
        clone(x)["sequence_output"].numpy(), enc(x)["sequence_output"].numpy()
    )


def test_invalid_arguments_named():
    with pytest.raises(ValueError, match="not divisible"):
        BertEncoder(**dict(TINY, num_attention_heads=3))
    with pytest.raises(ValueError, match="hidden_act"):
        BertEncoder(**dict(TINY, hidden_act="gelu2"))


def test_build_encoder_from_preset_and_file(tmp_path):
    enc = build_encoder("bert_uncased_L-2_H-128_A-2", name="small")
    assert (enc.num_hidden_layers, enc.hidden_size, enc.name) == (2, 128, "small")
    path = str(tmp_path / "bert_config.json")
    BertConfig(**TINY).to_json_file(path)
    assert build_encoder(path).hidden_size == 16


# --- layer config round trips (shared tiny sizes) ---------------------------


@pytest.mark.parametrize(
    "layer,args",
    [
        (
            BertTransformerBlock(
                num_attention_heads=2,
                intermediate_size=32,
                hidden_act="gelu_new",
                layer_norm_eps=1e-7,
                return_attention_probs=True,
            ),
            None,
        ),
        (AttentionMaskBias(), None),
        (BertPooler(initializer_range=0.05), None),
        (ClsTokenPooling(), None),
        (MaskedMeanPooling(), None),
    ],
)
def test_layer_config_round_trip(layer, args):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer)
    assert restored.get_config() == config


def test_block_standalone_matches_encoder_block():
    enc = tiny_encoder()
    block = enc.get_layer("transformer_layer_0")
    x = tiny_inputs()
    h = keras.random.normal((3, 8, 16), seed=1)
    bias = AttentionMaskBias()(x["input_mask"])
    clone = BertTransformerBlock.from_config(block.get_config())
    clone(h, bias)
    clone.set_weights(block.get_weights())
    np.testing.assert_array_equal(clone(h, bias).numpy(), block(h, bias).numpy())


def test_gelu_exact_is_erf_gelu():
    from bert_tf.layers import gelu_approximate, gelu_exact, get_activation

    x = np.linspace(-8, 8, 2001).astype(np.float32)
    ref = 0.5 * x.astype(np.float64) * (1 + erf(x.astype(np.float64) / math.sqrt(2)))
    np.testing.assert_allclose(np.asarray(gelu_exact(x)), ref, atol=2e-6)
    # The tanh approximation differs by up to ~4.7e-4 on this range.
    assert np.abs(np.asarray(gelu_approximate(x)) - ref).max() > 1e-4
    assert get_activation("gelu") is gelu_exact
    assert get_activation("gelu_new") is gelu_approximate


def test_mixed_policy_survives_keras_file(tmp_path):
    enc = BertEncoder(**TINY, dtype="mixed_bfloat16")
    path = str(tmp_path / "mixed.keras")
    enc.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    x = tiny_inputs()
    np.testing.assert_array_equal(
        np.asarray(loaded(x)["sequence_output"], np.float32),
        np.asarray(enc(x)["sequence_output"], np.float32),
    )
