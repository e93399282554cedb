"""bfloat16: the `--precision=bfloat16` SavedModel and bf16 training on a CPU.

- The bfloat16 export computes its matmuls in bfloat16 (no XLA), keeps
  float32 outputs, agrees with the float32 export on real text (labels equal
  where float32's top two logits are apart; logits within `LOGIT_RTOL` of the largest),
  records its precision, and loads in TF Serving's TF1 loader.
- `--mixed_precision=bfloat16` on a CPU without AVX512-BF16/AMX trains in
  float32 (one warning line), the same as float32; `--force_mixed_precision`
  keeps bfloat16.
"""

import inspect
import json
import os
import re
import string
from unittest import mock

import cli_testing
import keras
import numpy as np
import pytest
import serving_test_base as stb
import serving_testing as st
import tasks_testing as tt
import tensorflow as tf

from bert_tf import hardware
from bert_tf.export import precision, registry, serving
from bert_tf.tasks import common
from bert_tf.training import distribute

SEQ_LENGTH = 16
# bfloat16 keeps 8 significant bits. The logits usually stay within 0.003
# of float32's, but the error gathers on single inputs of this tiny model:
# in one traced run a single one of 61 texts was 0.07 off (mean 0.003), and
# some runs of the (not bit-reproducible) training differed by up to 0.35 on
# an AVX2 CPU that emulates bfloat16. So the bound is a share of the largest
# float32 logit (at least of 1), and the labels where float32's top two
# logits are clearly apart must be equal.
LOGIT_RTOL = 0.2


def _tolerance(reference):
    return LOGIT_RTOL * max(1.0, float(np.abs(reference).max()))


def _texts():
    """Real text: the test vocabulary's sentences and stdlib docstrings."""
    words = tt.WORDS
    texts = [" ".join(words[i : i + 3 + i % 4]) for i in range(0, len(words), 2)]
    texts += ["good great film", "bad awful movie", "a great movie", "an awful film"]
    for module in (os, json, re, string, inspect):
        doc = inspect.getdoc(module) or ""
        texts += [p.strip() for p in doc.split("\n\n") if p.strip()][:6]
    return texts


def make_classifier(root):
    """A tiny classifier trained until its logits are far apart (|logit| ~ 2)."""
    return tt.make_classifier(
        root,
        SEQ_LENGTH,
        rows=64,
        sentences=["good great film", "bad awful movie", "a great movie", "an awful film"],
        num_train_epochs=6,
        learning_rate=2e-2,
    )


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("bf16")
    model_dir = make_classifier(root)
    base = str(root / "savedmodels")
    results = {
        p: serving.export_for_serving(model_dir, base, name=f"sst_{p}", precision=p)
        for p in precision.PRECISIONS
    }
    return {"model_dir": model_dir, "results": results, "base": base}


def _serve(path, texts):
    fn = tf.saved_model.load(path).signatures["serving_default"]
    return {k: v.numpy() for k, v in fn(text=tf.constant(texts)).items()}


def test_bfloat16_export_agrees_with_float32(exports):
    results = exports["results"]
    assert {p: r.precision for p, r in results.items()} == {p: p for p in precision.PRECISIONS}
    texts = _texts()
    got = {p: _serve(r.path, texts) for p, r in results.items()}
    want, bf16 = got["float32"], got["bfloat16"]
    for key in ("logits", "probabilities"):
        assert bf16[key].dtype == np.float32, key
    err = np.abs(bf16["logits"] - want["logits"])
    tolerance = _tolerance(want["logits"])
    assert err.max() <= tolerance, (err.max(), tolerance)
    assert err.max() > 0  # Really computed in bfloat16.
    top2 = np.sort(want["logits"], -1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 2 * tolerance
    assert clear.sum() >= len(texts) // 2, (clear.sum(), len(texts))
    assert len(set(want["label_ids"][clear])) == 2  # Both labels occur.
    np.testing.assert_array_equal(bf16["label_ids"][clear], want["label_ids"][clear])


def test_bfloat16_graph_has_bfloat16_matmuls_and_no_xla(exports):
    loaded = tf.saved_model.load(exports["results"]["bfloat16"].path)
    fn = loaded.signatures["serving_default"]
    graph = fn.graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    matmul_types = {
        tf.dtypes.as_dtype(n.attr["T"].type).name
        for n in nodes
        if n.op in ("MatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum")
    }
    assert "bfloat16" in matmul_types, matmul_types
    assert not any(n.attr["_XlaMustCompile"].b for n in nodes)
    assert all(spec.dtype != tf.bfloat16 for spec in fn.structured_outputs.values())


def test_export_records_precision(exports):
    for p, result in exports["results"].items():
        with open(os.path.join(result.path, precision.EXPORT_INFO_FILE)) as f:
            info = json.load(f)
        assert info["precision"] == p
        assert info["exported_on"]["fast_bfloat16"] == hardware.has_fast_bfloat16()
        assert stat_mode(result.path) == stat_mode(os.path.dirname(result.path))


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


def test_bfloat16_export_loads_in_tf1_loader(exports, tmp_path):
    path = exports["results"]["bfloat16"].path
    requests = st.parse_warmup_file(path)
    reference = tf.saved_model.load(exports["results"]["float32"].path)
    fn = reference.signatures["serving_default"]

    def want(inputs):
        return {
            k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()
        }

    def compare(got, want):
        err = np.abs(np.asarray(got["logits"]) - want["logits"]).max()
        assert err <= _tolerance(want["logits"]), err
        return err

    stb.check_tf1_loader(
        path, requests, want, compare, tmp_path, signatures={"serving_default": ["text"]}
    )


def test_module_precision_must_match(exports, tmp_path):
    module = registry.build_serving_module(exports["model_dir"])
    with pytest.raises(ValueError, match="computes in float32"):
        serving.export_for_serving(module, str(tmp_path), name="m", precision="bfloat16")
    with pytest.raises(ValueError, match="--precision='float16'"):
        precision.check_precision("float16")
    assert not os.listdir(tmp_path)


def test_with_precision_keeps_weights_and_the_original(exports):
    model = common.load_task(exports["model_dir"]).model
    copy = precision.with_precision(model, "bfloat16")
    assert precision.model_precision(model) == "float32"
    assert precision.model_precision(copy) == "bfloat16"
    assert copy.encoder.transformer_layers[0].compute_dtype == "bfloat16"
    for a, b in zip(model.weights, copy.weights):
        assert b.dtype == "float32"
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert precision.with_precision(copy, "bfloat16") is copy


def test_warns_on_a_cpu_without_fast_bfloat16(monkeypatch):
    monkeypatch.setattr(hardware, "has_fast_bfloat16", lambda: False)
    with mock.patch.object(precision.logging, "warning") as warning:
        assert precision.warn_if_slow("bfloat16") == (not tf.config.list_physical_devices("GPU"))
        assert not precision.warn_if_slow("float32")
    assert warning.call_count <= 1


# ---------------------------------------------------------------------------
# The command line.


def _run(capsys, *args):
    proc = cli_testing.run_cli(capsys, *args, ok=None)
    return proc.returncode, proc.stdout, proc.stderr


def test_cli_export_bfloat16_and_refusals(exports, tmp_path, capsys):
    model_dir = exports["model_dir"]
    base = str(tmp_path / "sm")
    code, out, err = _run(
        capsys, "export", f"--model_dir={model_dir}", f"--export_dir={base}", "--precision=bfloat16"
    )
    assert code == 0, err[-2000:]
    assert "bfloat16" in out
    with open(os.path.join(base, "sst", "1", precision.EXPORT_INFO_FILE)) as f:
        assert json.load(f)["precision"] == "bfloat16"
    for args, message in [
        (
            [f"--model_dir={model_dir}", "--format=tflite", f"--export_path={tmp_path}/m.tflite"],
            "--precision=bfloat16 is for SavedModels: TFLite has no bfloat16 kernels",
        ),
        (
            [
                f"--vocab_file={model_dir}/vocab.txt",
                "--do_lower_case",
                f"--export_path={tmp_path}/p",
            ],
            "--precision=bfloat16: the preprocessing model has no weights",
        ),
    ]:
        code, out, err = _run(capsys, "export", *args, "--precision=bfloat16")
        assert code != 0
        lines = [line for line in err.splitlines() if line.startswith("bert_tf export: error")]
        assert lines == [f"bert_tf export: error: {message}"] or message in lines[0], err
    code, out, err = _run(capsys, "export", f"--model_dir={model_dir}", "--precision=float16")
    assert code != 0 and "precision" in err
    assert not os.path.exists(tmp_path / "m.tflite") and not os.path.exists(tmp_path / "p")


# ---------------------------------------------------------------------------
# Training.


@pytest.fixture()
def no_fast_bfloat16(monkeypatch):
    """A CPU without AVX512-BF16/AMX and no GPU, whatever this machine has."""
    monkeypatch.setattr(hardware, "has_fast_bfloat16", lambda: False)
    monkeypatch.setattr(distribute, "bfloat16_is_fast", lambda: False)
    yield
    distribute.set_mixed_precision(None)


def test_set_mixed_precision_falls_back_unless_forced(no_fast_bfloat16):
    with mock.patch.object(distribute.logging, "warning") as warning:
        assert distribute.set_mixed_precision("bfloat16") == "float32"
        assert keras.config.dtype_policy().name == "float32"
    assert warning.call_count == 1
    assert "emulated on this CPU" in warning.call_args[0][0]
    assert distribute.set_mixed_precision("bfloat16", force=True) == "mixed_bfloat16"
    assert distribute.set_mixed_precision("mixed_float16") == "mixed_float16"
    assert distribute.warn_if_slow_jit("mixed_bfloat16", True) == (
        not tf.config.list_physical_devices("GPU")
    )
    assert not distribute.warn_if_slow_jit("mixed_bfloat16", False)


def _finetune(capsys, root, out, *args):
    keras.utils.set_random_seed(3)  # The same random initial weights.
    code, _, err = _run(
        capsys,
        "finetune",
        "--task=classify",
        f"--train_file={root}/train.csv",
        f"--output_dir={out}",
        f"--init_checkpoint=random:{root}/bert_config.json",
        f"--vocab_file={root}/vocab.txt",
        "--max_seq_length=8",
        "--train_batch_size=8",
        "--num_train_epochs=1",
        "--learning_rate=1e-3",
        "--seed=3",
        *args,
    )
    assert code == 0, err[-3000:]
    return common.load_task(out).model


def test_finetune_bfloat16_fallback_equals_float32_and_force_trains(
    no_fast_bfloat16, tmp_path, capsys
):
    d = str(tmp_path)
    tt.write_vocab(d)
    tt.write_tiny_config(d)
    rows = ["text,label"] + [
        f"{['good great film', 'bad awful movie'][i % 2]},{['yes', 'no'][i % 2]}" for i in range(16)
    ]
    tt.write(d, "train.csv", "\n".join(rows) + "\n")
    f32 = _finetune(capsys, d, f"{d}/f32")
    fallback = _finetune(capsys, d, f"{d}/fallback", "--mixed_precision=bfloat16")
    assert fallback.encoder.dtype_policy.name == "float32"
    for a, b in zip(f32.weights, fallback.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, err_msg=a.path)
    forced = _finetune(
        capsys, d, f"{d}/forced", "--mixed_precision=bfloat16", "--force_mixed_precision"
    )
    assert forced.encoder.dtype_policy.name == "mixed_bfloat16"
    assert forced.encoder.transformer_layers[0].compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in forced.weights)
    assert any(
        not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(f32.weights, forced.weights)
    )
    code, _, err = _run(
        capsys,
        "finetune",
        "--task=classify",
        f"--train_file={d}/train.csv",
        f"--output_dir={d}/bad",
        "--force_mixed_precision",
    )
    assert code != 0 and "--force_mixed_precision needs --mixed_precision=bfloat16" in err


def test_pretrain_bfloat16_falls_back_unless_forced(no_fast_bfloat16, tmp_path):
    import pretrain_testing

    from bert_tf.config import BertConfig
    from bert_tf.training import pretrain

    docs = pretrain_testing.corpus_documents(20)
    corpus = pretrain_testing.write_corpus(str(tmp_path / "corpus"), docs, num_files=1)[0]
    vocab = pretrain_testing.make_vocab(docs, num_words=200)
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n")
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    for force, policy in ((False, "float32"), (True, "mixed_bfloat16")):
        model, result = pretrain.run_pretraining(
            corpus,
            str(tmp_path / f"out_{force}"),
            str(vocab_file),
            config,
            max_seq_length=32,
            max_predictions_per_seq=4,
            num_train_steps=2,
            num_warmup_steps=0,
            mixed_precision="mixed_bfloat16",
            force_mixed_precision=force,
            export=False,
            verbose=0,
        )
        assert model.encoder.dtype_policy.name == policy
        assert result.final_step == 2


def test_embedder_and_fill_mask_in_bfloat16(tmp_path):
    from bert_tf.export.embedder_serving import EmbedderServing
    from bert_tf.export.fill_mask_serving import FillMaskServing
    from bert_tf.heads import BertEmbedder, BertPretrainer

    vocab = tt.write_vocab(str(tmp_path))
    texts = tf.constant(["good great film", "the [MASK] was awful", "x y z"])
    embedder = BertEmbedder(tt.tiny_encoder(), pooling="mean", normalize=True)
    pretrainer = BertPretrainer(tt.tiny_encoder())
    outputs = {}
    for p in precision.PRECISIONS:
        module = EmbedderServing.from_encoder(
            precision.with_precision(embedder, p), vocab, lower_case=True, seq_length=SEQ_LENGTH
        )
        fill = FillMaskServing.from_pretrainer(
            precision.with_precision(pretrainer, p),
            vocab,
            lower_case=True,
            seq_length=SEQ_LENGTH,
            top_k=3,
        )
        assert precision.model_precision(module.model) == p
        assert precision.model_precision(fill.model) == p
        out = {**module.serve(texts), **fill.serve(texts)}
        ids = {
            "input_word_ids": [[2, 10, 3]],
            "input_mask": [[1, 1, 1]],
            "input_type_ids": [[0] * 3],
        }
        token_ids = module.token_ids({k: tf.constant(v) for k, v in ids.items()})
        assert all(v.dtype == tf.float32 for v in tf.nest.flatten(token_ids) if v.dtype.is_floating)
        outputs[p] = {k: v.numpy() for k, v in out.items() if v.dtype.is_floating}
        assert all(v.dtype == np.float32 for v in outputs[p].values())
    for key, value in outputs["float32"].items():
        np.testing.assert_allclose(outputs["bfloat16"][key], value, atol=0.05, err_msg=key)
