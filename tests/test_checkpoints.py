"""Checkpoint import/export: Google TF1, Hugging Face, Model Garden, keras-hub."""

import json
import os

import garden_testing
import keras
import numpy as np
import pytest
import safetensors.numpy
import tensorflow as tf
from encoder_testing import TINY, randomize, tiny_encoder, tiny_inputs, to_numpy

from bert_tf.checkpoints import (
    CheckpointMismatchError,
    load_google_checkpoint,
    load_hf_checkpoint,
    read_google_checkpoint,
    save_google_checkpoint,
    save_hf_checkpoint,
)
from bert_tf.checkpoints.google_tf1 import write_tf1_checkpoint
from bert_tf.checkpoints.huggingface import tf1_to_hf_name
from bert_tf.heads import BertClassifier, BertPretrainer

# Variable names and shapes of google-research/bert's modeling.py (one layer
# and the pre-training heads of run_pretraining.py), V=50, H=16, I=32, P=8.
GOOGLE_LAYER_0 = {
    "bert/embeddings/word_embeddings": (50, 16),
    "bert/embeddings/token_type_embeddings": (2, 16),
    "bert/embeddings/position_embeddings": (8, 16),
    "bert/embeddings/LayerNorm/gamma": (16,),
    "bert/embeddings/LayerNorm/beta": (16,),
    "bert/encoder/layer_0/attention/self/query/kernel": (16, 16),
    "bert/encoder/layer_0/attention/self/query/bias": (16,),
    "bert/encoder/layer_0/attention/self/key/kernel": (16, 16),
    "bert/encoder/layer_0/attention/self/key/bias": (16,),
    "bert/encoder/layer_0/attention/self/value/kernel": (16, 16),
    "bert/encoder/layer_0/attention/self/value/bias": (16,),
    "bert/encoder/layer_0/attention/output/dense/kernel": (16, 16),
    "bert/encoder/layer_0/attention/output/dense/bias": (16,),
    "bert/encoder/layer_0/attention/output/LayerNorm/gamma": (16,),
    "bert/encoder/layer_0/attention/output/LayerNorm/beta": (16,),
    "bert/encoder/layer_0/intermediate/dense/kernel": (16, 32),
    "bert/encoder/layer_0/intermediate/dense/bias": (32,),
    "bert/encoder/layer_0/output/dense/kernel": (32, 16),
    "bert/encoder/layer_0/output/dense/bias": (16,),
    "bert/encoder/layer_0/output/LayerNorm/gamma": (16,),
    "bert/encoder/layer_0/output/LayerNorm/beta": (16,),
    "bert/pooler/dense/kernel": (16, 16),
    "bert/pooler/dense/bias": (16,),
}
GOOGLE_HEADS = {
    "cls/predictions/transform/dense/kernel": (16, 16),
    "cls/predictions/transform/dense/bias": (16,),
    "cls/predictions/transform/LayerNorm/gamma": (16,),
    "cls/predictions/transform/LayerNorm/beta": (16,),
    "cls/predictions/output_bias": (50,),
    "cls/seq_relationship/output_weights": (2, 16),
    "cls/seq_relationship/output_bias": (2,),
}


def _one_layer():
    return tiny_encoder(num_hidden_layers=1)


def _pretrainer(**kw):
    model = BertPretrainer(tiny_encoder(**kw))
    randomize(model, seed=5)
    return model


def _mlm_inputs():
    return dict(tiny_inputs(), masked_lm_positions=np.array([[1, 2]] * 3, "int32"))


def _assert_same(a, b, x):
    for u, v in zip(keras.tree.flatten(to_numpy(a(x))), keras.tree.flatten(to_numpy(b(x)))):
        np.testing.assert_array_equal(u, v)


# --- Google TF1 ---------------------------------------------------------------


def test_tf1_names_and_shapes_are_googles(tmp_path):
    save_google_checkpoint(_one_layer(), str(tmp_path))
    reader = tf.train.load_checkpoint(str(tmp_path / "bert_model.ckpt"))
    shapes = {k: tuple(v) for k, v in reader.get_variable_to_shape_map().items()}
    assert shapes == GOOGLE_LAYER_0
    assert sorted(os.listdir(tmp_path)) == [
        "bert_config.json",
        "bert_model.ckpt.data-00000-of-00001",
        "bert_model.ckpt.index",
        "checkpoint",
    ]
    pre = BertPretrainer(_one_layer())
    save_google_checkpoint(pre, str(tmp_path / "pre"))
    shapes = {
        k: v.shape
        for k, v in read_google_checkpoint(str(tmp_path / "pre")).items()
        if k.startswith("cls/")
    }
    assert shapes == GOOGLE_HEADS


def test_tf1_round_trip_exact(tmp_path):
    enc = tiny_encoder()
    save_google_checkpoint(enc, str(tmp_path))
    loaded = load_google_checkpoint(str(tmp_path))
    assert dict(loaded.get_config(), name="") == dict(enc.get_config(), name="")
    _assert_same(enc, loaded, tiny_inputs())
    for a, b in zip(enc.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_tf1_pretrainer_round_trip_and_heads(tmp_path):
    pre = _pretrainer()
    save_google_checkpoint(pre, str(tmp_path))
    loaded = load_google_checkpoint(str(tmp_path), with_heads=True)
    assert isinstance(loaded, BertPretrainer)
    _assert_same(pre, loaded, _mlm_inputs())
    # A pre-training checkpoint into a fine-tuning model: heads are skipped.
    clf = BertClassifier(tiny_encoder(), num_classes=2)
    load_google_checkpoint(str(tmp_path / "bert_model.ckpt"), clf)
    _assert_same(pre.encoder, clf.encoder, tiny_inputs())
    with pytest.raises(
        CheckpointMismatchError, match="unused variable 'cls/predictions/output_bias'"
    ):
        load_google_checkpoint(str(tmp_path), skip_heads=False)


def test_tf1_optimizer_slots_ignored(tmp_path):
    enc = _one_layer()
    from bert_tf.checkpoints import extract_state

    state = extract_state(enc)
    state["global_step"] = np.array(7, np.int64)
    state["bert/pooler/dense/kernel/adam_m"] = np.zeros((16, 16), np.float32)
    state["bert/pooler/dense/kernel/adam_v"] = np.zeros((16, 16), np.float32)
    write_tf1_checkpoint(state, str(tmp_path / "model.ckpt-7"))
    loaded = load_google_checkpoint(str(tmp_path), config=enc.bert_config)
    _assert_same(enc, loaded, tiny_inputs())


def _tf1_with(tmp_path, enc, **changes):
    from bert_tf.checkpoints import extract_state

    state = extract_state(enc)
    for name, value in changes.items():
        if value is None:
            del state[name]
        else:
            state[name] = value
    write_tf1_checkpoint(state, str(tmp_path / "bert_model.ckpt"))
    enc.bert_config.to_json_file(str(tmp_path / "bert_config.json"))
    return str(tmp_path)


def test_tf1_errors_name_the_variable(tmp_path):
    enc = _one_layer()
    q = "bert/encoder/layer_0/attention/self/query/kernel"
    path = _tf1_with(tmp_path / "a", enc, **{q: np.zeros((16, 8), np.float32)})
    with pytest.raises(CheckpointMismatchError) as err:
        load_google_checkpoint(path)
    assert f"'{q}' has shape (16, 8) in the checkpoint but the model expects (16, 16)" in str(
        err.value
    )
    assert "bert_model.ckpt" in str(err.value)

    path = _tf1_with(
        tmp_path / "b", enc, **{"bert/encoder/layer_0/extra/kernel": np.ones(3, np.float32)}
    )
    with pytest.raises(
        CheckpointMismatchError,
        match=r"unused variable 'bert/encoder/layer_0/extra/kernel' with shape \(3,\)",
    ):
        load_google_checkpoint(path)

    path = _tf1_with(tmp_path / "c", enc, **{"bert/pooler/dense/bias": None})
    with pytest.raises(
        CheckpointMismatchError,
        match=r"missing variable 'bert/pooler/dense/bias' \(the model expects shape \(16,\)\)",
    ):
        load_google_checkpoint(path)

    # A 2-layer model from a 1-layer checkpoint: layer_1 is missing.
    with pytest.raises(CheckpointMismatchError, match="missing variable 'bert/encoder/layer_1/"):
        load_google_checkpoint(str(tmp_path / "a"), tiny_encoder())


def test_tf1_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="bert_model.ckpt.index"):
        load_google_checkpoint(str(tmp_path))


# --- Hugging Face ----------------------------------------------------------------


def test_hf_names():
    assert tf1_to_hf_name("bert/embeddings/word_embeddings") == (
        "embeddings.word_embeddings.weight",
        False,
    )
    assert tf1_to_hf_name("bert/encoder/layer_11/attention/output/LayerNorm/gamma", "bert.") == (
        "bert.encoder.layer.11.attention.output.LayerNorm.weight",
        False,
    )
    assert tf1_to_hf_name("bert/encoder/layer_0/attention/self/value/kernel") == (
        "encoder.layer.0.attention.self.value.weight",
        True,
    )
    assert tf1_to_hf_name("bert/pooler/dense/bias") == ("pooler.dense.bias", False)
    assert tf1_to_hf_name("cls/predictions/transform/LayerNorm/beta", "bert.") == (
        "cls.predictions.transform.LayerNorm.bias",
        False,
    )


def test_hf_bert_model_round_trip(tmp_path):
    enc = tiny_encoder()
    file = save_hf_checkpoint(enc, str(tmp_path))
    tensors = safetensors.numpy.load_file(file)
    assert "encoder.layer.1.attention.self.query.weight" in tensors
    np.testing.assert_array_equal(
        tensors["encoder.layer.0.intermediate.dense.weight"],
        enc.get_layer("transformer_layer_0").intermediate.kernel.numpy().T,
    )
    config = json.load(open(tmp_path / "config.json"))
    assert config["architectures"] == ["BertModel"] and config["model_type"] == "bert"
    loaded = load_hf_checkpoint(str(tmp_path))
    _assert_same(enc, loaded, tiny_inputs())


def test_hf_pretraining_layout_round_trip(tmp_path):
    pre = _pretrainer()
    file = save_hf_checkpoint(pre, str(tmp_path))
    tensors = safetensors.numpy.load_file(file)
    assert "bert.embeddings.word_embeddings.weight" in tensors
    assert "cls.predictions.bias" in tensors
    assert tensors["cls.seq_relationship.weight"].shape == (2, 16)
    loaded = load_hf_checkpoint(str(tmp_path), with_heads=True)
    _assert_same(pre, loaded, _mlm_inputs())
    # transformers also stores the tied decoder; copies are accepted.
    tensors["cls.predictions.decoder.weight"] = tensors["bert.embeddings.word_embeddings.weight"]
    tensors["cls.predictions.decoder.bias"] = tensors["cls.predictions.bias"]
    tensors["bert.embeddings.position_ids"] = np.arange(8)[None]
    safetensors.numpy.save_file(tensors, file)
    _assert_same(pre, load_hf_checkpoint(str(tmp_path), with_heads=True), _mlm_inputs())
    # The encoder alone from the pre-training layout.
    _assert_same(pre.encoder, load_hf_checkpoint(str(tmp_path)), tiny_inputs())
    tensors["cls.predictions.decoder.weight"] = tensors["cls.predictions.decoder.weight"] + 1
    safetensors.numpy.save_file(tensors, file)
    with pytest.raises(CheckpointMismatchError, match="decoder.weight' differs"):
        load_hf_checkpoint(str(tmp_path), with_heads=True)


def test_hf_old_gamma_beta_names_and_errors(tmp_path):
    enc = _one_layer()
    file = save_hf_checkpoint(enc, str(tmp_path))
    tensors = safetensors.numpy.load_file(file)
    renamed = {
        k.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
            "LayerNorm.bias", "LayerNorm.beta"
        ): v
        for k, v in tensors.items()
    }
    safetensors.numpy.save_file(renamed, file)
    _assert_same(enc, load_hf_checkpoint(str(tmp_path)), tiny_inputs())
    bad = dict(
        tensors, **{"encoder.layer.0.attention.self.rotary.weight": np.ones((2, 2), np.float32)}
    )
    safetensors.numpy.save_file(bad, file)
    with pytest.raises(
        CheckpointMismatchError, match=r"'encoder.layer.0.attention.self.rotary.weight' \(2, 2\)"
    ):
        load_hf_checkpoint(str(tmp_path))
    bad = dict(tensors)
    bad["encoder.layer.0.output.dense.weight"] = np.ones((16, 16), np.float32)
    safetensors.numpy.save_file(bad, file)
    with pytest.raises(
        CheckpointMismatchError,
        match=r"output/dense/kernel' has shape \(16, 16\).*expects \(32, 16\)",
    ):
        load_hf_checkpoint(str(tmp_path))


def test_tf1_to_hf_to_tf1_exact(tmp_path):
    pre = _pretrainer()
    save_google_checkpoint(pre, str(tmp_path / "tf1"))
    a = load_google_checkpoint(str(tmp_path / "tf1"), with_heads=True)
    save_hf_checkpoint(a, str(tmp_path / "hf"))
    b = load_hf_checkpoint(str(tmp_path / "hf"), with_heads=True)
    save_google_checkpoint(b, str(tmp_path / "tf1b"))
    first = read_google_checkpoint(str(tmp_path / "tf1"))
    second = read_google_checkpoint(str(tmp_path / "tf1b"))
    assert first.keys() == second.keys()
    for k in first:
        np.testing.assert_array_equal(first[k], second[k])


# --- keras-hub ---------------------------------------------------------------------


def test_keras_hub_backbone_import():
    import keras_hub

    from bert_tf.checkpoints.keras_hub import load_keras_hub_backbone

    hub = keras_hub.models.BertBackbone(
        vocabulary_size=50,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=8,
    )
    randomize(hub, seed=7)
    ours = load_keras_hub_backbone(hub)
    # keras-hub's feed-forward GELU is the tanh approximation: compare with
    # both activations switched to the same function.
    for i in range(2):
        hub.get_layer(f"transformer_layer_{i}")._feedforward_intermediate_dense.activation = (
            lambda v: keras.activations.gelu(v, approximate=False)
        )
    x = tiny_inputs()
    hub_out = hub(
        {
            "token_ids": x["input_word_ids"],
            "padding_mask": x["input_mask"],
            "segment_ids": x["input_type_ids"],
        }
    )
    out = ours(x)
    mask = x["input_mask"] == 1
    np.testing.assert_allclose(
        out["sequence_output"].numpy()[mask], hub_out["sequence_output"].numpy()[mask], atol=1e-5
    )
    np.testing.assert_allclose(
        out["pooled_output"].numpy(), hub_out["pooled_output"].numpy(), atol=1e-5
    )


# --- Model Garden --------------------------------------------------------------------


def test_model_garden_encoder_and_checkpoint_import(tmp_path):
    garden_testing.import_garden("official")
    from bert_tf.checkpoints.model_garden import (
        build_model_garden_encoder,
        load_model_garden_checkpoint,
        load_model_garden_encoder,
    )
    from bert_tf.config import BertConfig

    config = BertConfig(**TINY)
    mg = build_model_garden_encoder(config)
    rng = np.random.default_rng(11)
    for v in mg.variables:
        v.assign(rng.normal(0, 0.5, v.shape).astype(np.float32))
    x = tiny_inputs()
    expected = mg(x, training=False)
    ours = load_model_garden_encoder(mg)
    out = ours(x)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(out[key].numpy(), expected[key].numpy(), atol=1e-5)
    path = tf.train.Checkpoint(encoder=mg).save(str(tmp_path / "ckpt"))
    loaded = load_model_garden_checkpoint(path, config)
    _assert_same(ours, loaded, x)
    with pytest.raises(CheckpointMismatchError, match="does not match"):
        load_model_garden_checkpoint(path, BertConfig(**dict(TINY, hidden_size=32)))
