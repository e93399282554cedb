"""Tests of `bert_tf.training`: schedules, optimizers, losses, metrics,
resumable fitting and pre-training settings (tiny models)."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.encoder import BertEncoder
from bert_tf.heads import BertPretrainer
from bert_tf.training import callbacks as callbacks_lib
from bert_tf.training import distribute, losses, pretrain
from bert_tf.training import optimizer as optimizer_lib
from bert_tf.training.loop import fit_resumable

V, S, P = 40, 16, 3


def _tiny_pretrainer(dtype=None):
    keras.utils.set_random_seed(1)
    enc = BertEncoder(
        vocab_size=V,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=S,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        dtype=dtype,
    )
    return BertPretrainer(enc)


def _batches(seed=0, batch=4):
    """An endless dataset of random but fixed pre-training batches."""
    rng = np.random.default_rng(seed)
    n = 8 * batch
    ids = rng.integers(5, V, size=(n, S)).astype("int32")
    x = {
        "input_word_ids": ids,
        "input_mask": np.ones_like(ids),
        "input_type_ids": np.zeros_like(ids),
        "masked_lm_positions": np.sort(rng.integers(1, S, size=(n, P)), axis=1).astype("int32"),
    }
    labels = np.take_along_axis(ids, x["masked_lm_positions"], 1)
    labels[:, -1] = -1  # an unused prediction slot
    y = {"mlm_logits": labels, "nsp_logits": rng.integers(0, 2, size=n).astype("int32")}
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).repeat()


# -- schedules and optimizers -------------------------------------------------


def test_schedule_matches_berts_formula():
    lr, total, warm = 1e-3, 100, 10
    schedule = optimizer_lib.create_learning_rate_schedule(lr, total, warm)
    for step in (0, 1, 5, 9, 10, 11, 50, 99, 100, 150):
        # google-research/bert optimization.py: polynomial (power 1) decay of
        # the global step to 0, linear warm-up before num_warmup_steps.
        expected = lr * (1 - min(step, total) / total)
        if step < warm:
            expected = lr * step / warm
        assert float(schedule(step)) == pytest.approx(expected, abs=1e-9)
    poly = optimizer_lib.create_learning_rate_schedule(
        lr, total, 0, decay="polynomial", power=0.5, end_learning_rate=1e-5
    )
    assert float(poly(36)) == pytest.approx((lr - 1e-5) * (1 - 0.36) ** 0.5 + 1e-5, rel=1e-5)
    const = optimizer_lib.create_learning_rate_schedule(lr, total, 5, decay="constant")
    assert float(const(80)) == pytest.approx(lr)


def test_warmup_config_round_trip():
    schedule = optimizer_lib.create_learning_rate_schedule(2e-4, 50, 5)
    config = keras.optimizers.schedules.serialize(schedule)
    clone = keras.optimizers.schedules.deserialize(config)
    assert isinstance(clone, optimizer_lib.WarmUp)
    assert clone.get_config() == schedule.get_config()
    for key in ("initial_learning_rate", "warmup_steps", "name"):
        assert schedule.get_config()[key] == getattr(schedule, key)
    for step in (0, 3, 5, 30):
        assert float(clone(step)) == float(schedule(step))


def test_adamw_excludes_layer_norm_and_biases_from_weight_decay():
    model = _tiny_pretrainer()
    opt = optimizer_lib.create_optimizer(
        0.1, num_train_steps=10, weight_decay=0.5, global_clipnorm=None
    )
    variables = model.trainable_variables
    before = [v.numpy().copy() for v in variables]
    opt.apply([tf.zeros_like(v) for v in variables], variables)
    # Zero gradients: Adam moves nothing, so only weight decay acts, as
    # v <- v * (1 - lr * wd) with lr = 0.1 * (1 - 0/10) at step 0.
    decayed = kept = 0
    for v, b in zip(variables, before):
        if any(k in v.name for k in ("gamma", "beta", "bias")):
            np.testing.assert_array_equal(v.numpy(), b, err_msg=v.path)
            kept += 1
        else:
            np.testing.assert_allclose(v.numpy(), b * (1 - 0.1 * 0.5), rtol=1e-6, err_msg=v.path)
            decayed += 1
    assert kept >= 8 and decayed >= 6


def test_optimizer_choices_clipping_and_accumulation():
    lamb = optimizer_lib.create_optimizer(1e-3, 10, optimizer="lamb")
    assert isinstance(lamb, keras.optimizers.Lamb)
    adam = optimizer_lib.create_optimizer(1e-3, 10, optimizer="adam")
    assert type(adam) is keras.optimizers.Adam
    opt = optimizer_lib.create_optimizer(
        1e-3, 10, global_clipnorm=1.0, gradient_accumulation_steps=2
    )
    assert opt.global_clipnorm == 1.0 and opt.gradient_accumulation_steps == 2
    # With accumulation, variables move only every second batch.
    var = keras.Variable(np.ones(3, "float32"))
    opt.apply([tf.ones(3)], [var])
    np.testing.assert_array_equal(var.numpy(), np.ones(3))
    opt.apply([tf.ones(3)], [var])
    assert (var.numpy() < 1).all()
    with pytest.raises(ValueError, match="optimizer"):
        optimizer_lib.create_optimizer(1e-3, 10, optimizer="sgd")


# -- losses and metrics -------------------------------------------------------


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_masked_loss_and_accuracy_against_numpy():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(4, 5, 7)).astype("float32")
    labels = rng.integers(0, 7, size=(4, 5)).astype("int32")
    labels[0, 2:] = -1
    labels[3, :] = -1  # an example without predictions contributes 0
    valid = labels >= 0
    nll = -np.take_along_axis(_log_softmax(logits), np.maximum(labels, 0)[..., None], -1)[..., 0]
    per_example = (nll * valid).sum(1) / np.maximum(valid.sum(1), 1)
    loss = losses.MaskedSparseCategoricalCrossentropy()(labels, logits)
    assert float(loss) == pytest.approx(per_example.mean(), rel=1e-5)
    metric = losses.MaskedSparseCategoricalAccuracy()
    metric.update_state(labels, logits)
    expected = (logits.argmax(-1) == labels)[valid].mean()
    assert float(metric.result()) == pytest.approx(expected)
    # float16 logits (mixed precision) give the same loss.
    loss16 = losses.MaskedSparseCategoricalCrossentropy()(labels, logits.astype("float16"))
    assert float(loss16) == pytest.approx(per_example.mean(), rel=2e-3)


def test_loss_and_metric_config_round_trip():
    for obj in (
        losses.MaskedSparseCategoricalCrossentropy(ignore_class=-2),
        losses.MaskedSparseCategoricalAccuracy(ignore_class=-2),
    ):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))
        assert type(clone) is type(obj)
        assert clone.get_config() == obj.get_config()
        assert clone.ignore_class == -2


# -- resumable fit -------------------------------------------------------------


def _compiled(dtype=None, jit_compile=False, total=6):
    model = _tiny_pretrainer(dtype)
    opt = optimizer_lib.create_optimizer(1e-2, total, 1)
    return pretrain.compile_pretrainer(model, opt, jit_compile=jit_compile)


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    """3 steps + restore + 3 steps == 6 steps straight (weights, optimizer
    state, learning-rate step and data position all restored)."""

    def data_fn(skip):
        return _batches().skip(skip)

    straight = _compiled()
    result = fit_resumable(
        straight, data_fn, 6, str(tmp_path / "a"), save_checkpoints_steps=3, verbose=0
    )
    assert (result.initial_step, result.final_step) == (0, 6)

    first = _compiled()
    fit_resumable(first, data_fn, 3, str(tmp_path / "b"), save_checkpoints_steps=3, verbose=0)
    # A fresh process would build a fresh model: do the same here.
    resumed = _compiled()
    result = fit_resumable(
        resumed, data_fn, 6, str(tmp_path / "b"), save_checkpoints_steps=3, verbose=0
    )
    assert (result.initial_step, result.trained_steps) == (3, 3)
    assert int(resumed.optimizer.iterations.numpy()) == 6
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    history = result.history.history
    assert "learning_rate" in history and "mlm_logits_accuracy" in history
    # Linear decay: the rate logged at the end (step 6 of 6) is 0.
    assert history["learning_rate"][-1] == pytest.approx(0.0, abs=1e-9)
    assert sorted(os.listdir(tmp_path / "b")).count("checkpoint") == 1


def test_loss_falls_on_a_learnable_task(tmp_path):
    model = _compiled(total=40)
    result = fit_resumable(
        model,
        lambda skip: _batches(batch=8),
        40,
        str(tmp_path),
        save_checkpoints_steps=20,
        verbose=0,
    )
    losses_ = result.history.history["mlm_logits_loss"]
    # The same 8 batches again and again: memorised, loss far below ln(V).
    assert losses_[0] > losses_[-1] + 0.3


@pytest.mark.parametrize("policy, jit", [("mixed_float16", False), ("mixed_bfloat16", True)])
def test_mixed_precision_and_xla(policy, jit, tmp_path):
    try:
        distribute.set_mixed_precision(policy, force=True)
        model = _compiled(jit_compile=jit)
        result = fit_resumable(
            model, lambda skip: _batches(), 2, str(tmp_path), save_checkpoints_steps=2, verbose=0
        )
    finally:
        distribute.set_mixed_precision("float32")
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.encoder.dtype_policy.name == policy
    assert np.isfinite(result.history.history["loss"]).all()


def test_strategies_by_name():
    assert distribute.get_strategy("default").num_replicas_in_sync == 1
    mirrored = distribute.get_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    # Nested structures reduce leaf by leaf (what Keras' fit asks for).
    value = mirrored.reduce("MEAN", {"a": tf.ones([2]), "b": tf.zeros([])}, axis=None)
    assert set(value) == {"a", "b"}
    with pytest.raises(ValueError, match="strategy"):
        distribute.get_strategy("parameter_server")
    with pytest.raises(ValueError, match="mixed_precision"):
        distribute.set_mixed_precision("float8")


def test_learning_rate_logger():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer_lib.create_optimizer(1.0, 4, 2), "mse")
    history = model.fit(
        np.ones((8, 2)),
        np.ones((8, 1)),
        batch_size=2,
        epochs=1,
        verbose=0,
        callbacks=[callbacks_lib.LearningRateLogger()],
    )
    # After 4 updates of 4, linear decay reaches 0.
    assert history.history["learning_rate"] == [0.0]
