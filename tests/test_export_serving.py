"""TF Serving layout: versions, models.config, warm-up requests, TF1 loader.

Every exported model is loaded in a fresh process that imports only
`tensorflow` and `tensorflow_text`, through the TF1 loader and `Session.run`
on the signature's tensor names (TF Serving's C++ path); its warm-up
requests, parsed with TF Serving's `PredictionLog` proto, are replayed there
and compared with the Keras model run here.

Each task is one case of `CASES`: a function that makes a fine-tuned model
folder, and the Keras reference of its outputs. A case whose serving module
has not landed yet is skipped with the reason.
"""

import functools
import json
import os
import re
import shutil

import numpy as np
import pytest
import serving_test_base as stb
import serving_testing as st
import tasks_testing as tt
import tensorflow as tf
from absl import flags

from bert_tf import cli
from bert_tf.export import op_audit, serving, task_serving
from bert_tf.tasks import common
from bert_tf.text import BertPreprocessor

SEQ_LENGTH = 16
LOGIT_TOLERANCE = 1e-5


# ---------------------------------------------------------------------------
# Cases: a model folder and the Keras reference of its outputs.


def make_classifier(root):
    """A classifier fine-tuned for a few steps on a CSV the test writes."""
    return tt.make_classifier(root, seq_length=SEQ_LENGTH)


def pair_from(model_dir, root):
    """The same fine-tuned model as a text-pair classifier (two columns)."""
    out = str(root / "nli")
    shutil.copytree(model_dir, out)
    info = common.load_task_info(out)
    info["text_columns"] = ["premise", "hypothesis"]
    with open(os.path.join(out, common.TASK_FILE), "w") as f:
        json.dump(info, f)
    return out


@functools.cache
def _load_task(model_dir):
    return common.load_task(model_dir)


def classifier_reference(entry, inputs):
    """Logits of the Keras model on the same strings, and derived outputs."""
    task = _load_task(entry["model_dir"])
    preprocessor = BertPreprocessor(task.tokenizer, seq_length=task.info["max_seq_length"])
    names = sorted(inputs)
    if names == ["text"]:
        packed = preprocessor(tf.constant(inputs["text"]))
    else:
        packed = preprocessor([tf.constant(inputs["text_a"]), tf.constant(inputs["text_b"])])
    logits = task.model(packed, training=False).numpy().astype(np.float64)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    labels = np.asarray(task.info["labels"])
    return {
        "logits": logits,
        "probabilities": probs,
        "label_names": labels[logits.argmax(-1)].tolist(),
    }


def compare_classifier(got, want):
    err = np.abs(np.asarray(got["logits"]) - want["logits"]).max()
    assert err <= LOGIT_TOLERANCE, err
    np.testing.assert_allclose(got["probabilities"], want["probabilities"], atol=LOGIT_TOLERANCE)
    # Names are compared where the top two logits are not within tolerance.
    top2 = np.sort(want["logits"], -1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 10 * LOGIT_TOLERANCE
    assert clear.any()
    got_names = np.asarray(got["label_names"])[clear]
    np.testing.assert_array_equal(got_names, np.asarray(want["label_names"])[clear])
    return err


NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def make_ner(root):
    """A token classifier folder (`save_task`), with clear, varied logits."""
    import keras

    from bert_tf.heads import BertTokenClassifier

    keras.utils.set_random_seed(7)
    model = BertTokenClassifier(tt.tiny_encoder(), num_classes=len(NER_LABELS))
    layer = model.get_layer("logits")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * 300.0, bias])  # No near-tie argmax.
    info = {
        "task": "ner",
        "labels": NER_LABELS,
        "max_seq_length": SEQ_LENGTH,
        "do_lower_case": True,
    }
    vocab = tt.write_vocab(str(root))
    return common.save_task(str(root / "ner"), model, vocab, info)


def ner_reference(entry, inputs):
    """Per-piece label probabilities of the Keras model on the same strings."""
    task = _load_task(entry["model_dir"])
    packed = BertPreprocessor(task.tokenizer, seq_length=SEQ_LENGTH)(tf.constant(inputs["text"]))
    logits = task.model(packed, training=False).numpy().astype(np.float64)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return {"probs": probs, "labels": task.info["labels"]}


def compare_ner(got, want):
    errs = [0.0]
    for b, n in enumerate(got["num_tokens"]):
        n = min(n, SEQ_LENGTH - 2)  # Labelled pieces: those packed.
        probs = want["probs"][b, 1 : n + 1]  # [n, C], after [CLS].
        ids = np.asarray(got["token_label_ids"][b][:n])
        np.testing.assert_array_equal(ids, probs.argmax(-1))
        labels = [want["labels"][i] for i in ids]
        assert labels == got["token_labels"][b][:n]
        scores = np.asarray(got["token_scores"][b][:n])
        errs.append(np.abs(scores - probs.max(-1)).max(initial=0.0))
    assert max(errs) <= LOGIT_TOLERANCE, max(errs)
    return max(errs)


def make_squad(root):
    """A SQuAD v2.0 span labeler folder (`save_task`, finetune_squad's keys)."""
    import keras

    from bert_tf.heads import BertSpanLabeler

    keras.utils.set_random_seed(3)
    model = BertSpanLabeler(tt.tiny_encoder())
    info = {
        "task": "squad",
        "do_lower_case": True,
        "max_seq_length": 32,
        "doc_stride": 8,
        "max_query_length": 12,
        "n_best_size": 5,
        "max_answer_length": 10,
        "version_2_with_negative": True,
        "null_score_diff_threshold": 0.0,
    }
    vocab = tt.write_vocab(str(root))
    return common.save_task(str(root / "squad"), model, vocab, info)


def make_embedder(root):
    """An `EmbedderServing` module (no fine-tuned folder for this task)."""
    from bert_tf.heads import BertEmbedder

    embedder = BertEmbedder(tt.tiny_encoder(), pooling="mean", normalize=True)
    vocab = tt.write_vocab(str(root))
    return task_serving.EmbedderServing.from_encoder(
        embedder, vocab, lower_case=True, seq_length=SEQ_LENGTH
    )


def make_fill_mask(root):
    """A `FillMaskServing` module over a `BertPretrainer`."""
    from bert_tf.heads import BertPretrainer

    vocab = tt.write_vocab(str(root))
    return task_serving.FillMaskServing.from_pretrainer(
        BertPretrainer(tt.tiny_encoder()),
        vocab,
        lower_case=True,
        seq_length=SEQ_LENGTH,
        top_k=3,
    )


def embedder_reference(entry, inputs):
    """The Keras `BertEmbedder` on the same strings."""
    module = entry["module"]
    tokenizer = module._tokenizer
    packed = BertPreprocessor(tokenizer, seq_length=SEQ_LENGTH)(tf.constant(inputs["text"]))
    return {"embeddings": module.model(packed, training=False).numpy()}


def compare_embedder(got, want):
    err = np.abs(np.asarray(got["embeddings"]) - want["embeddings"]).max()
    assert err <= LOGIT_TOLERANCE, err
    return err


def module_reference(entry, inputs):
    """The module's own `serving_default`, run here (TF2, eager)."""
    out = entry["module"].signatures()["serving_default"](
        **{k: tf.constant(v) for k, v in inputs.items()}
    )
    return {k: v.numpy() for k, v in out.items()}


def compare_all_outputs(got, want):
    """Every output: floats within the tolerance, ids and strings equal."""
    assert sorted(got) == sorted(want)
    errs = [0.0]
    for name, value in want.items():
        if value.dtype == object:
            text = np.vectorize(lambda b: b.decode(), otypes=[object])(value)
            assert got[name] == text.tolist(), name
        elif value.dtype.kind == "f":
            err = np.abs(np.asarray(got[name]) - value).max(initial=0.0)
            errs.append(err)
        else:
            np.testing.assert_array_equal(got[name], value, err_msg=name)
    assert max(errs) <= LOGIT_TOLERANCE, max(errs)
    return max(errs)


def _pending(what):
    return dict(make=None, reason=f"enable when {what} lands")


CASES = {
    # name: its serving_default inputs, how the model is made, its Keras
    # reference, how it is exported.
    "classify": dict(
        inputs=["text"],
        make="classifier",
        reference=classifier_reference,
        compare=compare_classifier,
        export="python",
    ),
    "classify_pair": dict(
        inputs=["text_a", "text_b"],
        make="pair",
        reference=classifier_reference,
        compare=compare_classifier,
        export="cli",
    ),
    "ner": dict(
        inputs=["text"],
        make="ner",
        reference=ner_reference,
        compare=compare_ner,
        export="python",
    ),
    # SQuAD's reference is the module itself (tests/test_export_squad.py
    # checks it against bert_tf.tasks.squad's Python decoding).
    "squad": dict(
        inputs=["question", "context"],
        make="squad",
        reference=module_reference,
        compare=compare_all_outputs,
        export="python",
    ),
    "embed": dict(
        inputs=["text"],
        make="embedder",
        reference=embedder_reference,
        compare=compare_embedder,
        export="module",
    ),
    # Fill-mask's reference is the module itself (tests/test_export_tasks.py
    # checks it against the Keras pretrainer).
    "fill_mask": dict(
        inputs=["text"],
        token_ids=["masked_lm_positions"],  # Beside the packed inputs.
        make="fill_mask",
        reference=module_reference,
        compare=compare_all_outputs,
        export="module",
    ),
    # A new task: its maker, reference and comparison, or
    # _pending("what it waits for") to list it as skipped.
}
# Every task's export goes through the TF1 loader by default (all six: about
# 160 s of CPU on the 2-core test machine); BERT_TF_SERVING_CASES=classify
# (a comma list) narrows a local run.
DEFAULT_CASES = ("classify", "classify_pair")
_SELECTED = os.environ.get("BERT_TF_SERVING_CASES", "all")
for _name, _case in CASES.items():
    _wanted = _SELECTED == "all" or _name in _SELECTED.split(",")
    if _case["make"] and _name not in DEFAULT_CASES and not _wanted:
        CASES[_name] = dict(
            _case,
            make=None,
            reason="set BERT_TF_SERVING_CASES=all (or a list) to run it",
        )
ENABLED = [name for name, case in CASES.items() if case["make"]]
CASE_PARAMS = [
    pytest.param(
        name,
        marks=() if case["make"] else pytest.mark.skip(reason=case["reason"]),
    )
    for name, case in CASES.items()
]

PAIR_WARMUP = [
    ("the film was good", "the movie was great"),
    ("john lives in paris", "john does not live in london"),
    ("a quick brown fox", "x y z"),
]


def _run_cli(*args):
    """`bert_tf export ...` in this process; returns (exit code, out, err)."""
    flags.FLAGS.unparse_flags()
    code = 0
    try:
        cli.run(["bert_tf", "export", *args])
    except SystemExit as e:
        code = e.code or 0
    return code


MAKERS = {
    "classifier": make_classifier,
    "ner": make_ner,
    "squad": make_squad,
    "embedder": make_embedder,
    "fill_mask": make_fill_mask,
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every enabled case exported under one base folder."""
    root = tmp_path_factory.mktemp("serving")
    base = str(root / "savedmodels")
    made = {}

    def make(kind):
        if kind not in made:
            if kind == "pair":
                made[kind] = pair_from(make("classifier"), root)
            else:
                made[kind] = MAKERS[kind](tmp_path_factory.mktemp(kind))
        return made[kind]

    out = {"base": base, "root": root, "cases": {}}
    for name in ENABLED:
        case = CASES[name]
        made_thing = make(case["make"])
        model_dir = module = None
        if case["export"] == "module":  # A module without a folder.
            module = made_thing
            result = serving.export_for_serving(module, base, name=name)
        elif case["export"] == "python":
            model_dir = made_thing
            module = task_serving.build_serving_module(model_dir)
            result = serving.export_for_serving(module, base, name=name)
        else:  # `bert_tf export`, with a warm-up file.
            model_dir = made_thing
            warmup = tt.write(
                str(root),
                f"{name}.tsv",
                "".join(f"{a}\t{b}\n\n" for a, b in PAIR_WARMUP),
            )
            code = _run_cli(
                f"--model_dir={model_dir}",
                f"--export_dir={base}",
                f"--name={name}",
                f"--warmup_file={warmup}",
            )
            assert code == 0
            result = os.path.join(base, name, "1")
        out["cases"][name] = dict(model_dir=model_dir, module=module, result=result)
    return out


def _path(entry):
    result = entry["result"]
    return result if isinstance(result, str) else result.path


@pytest.fixture(scope="module")
def fresh(exported, tmp_path_factory):
    """All exports through the TF1 loader in one fresh process."""
    jobs = []
    for name in ENABLED:
        path = _path(exported["cases"][name])
        requests = st.parse_warmup_file(path)
        jobs.append(
            {
                "export_dir": path,
                "requests": requests,
                # TF Serving shares one session between concurrent requests.
                "threads": 8 if name == "classify" else 0,
                "rounds": 3,
            }
        )
    got = st.run_tf1_fresh(jobs, str(tmp_path_factory.mktemp("tf1")))
    return {name: r for name, r in zip(ENABLED, got["results"])} | {"_modules": got["modules"]}


# ---------------------------------------------------------------------------
# Loading where TF Serving does, and agreeing with Keras.


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_tf1_loader_replays_warmup_and_matches_keras(case, exported, fresh):
    entry = exported["cases"][case]
    path = _path(entry)
    requests = st.parse_warmup_file(path)
    assert requests and all(r["signature"] == "serving_default" for r in requests)
    assert {r["model"] for r in requests} == {case}
    errors = stb.check_tf1_result(
        fresh[case],
        requests,
        functools.partial(CASES[case]["reference"], entry),
        CASES[case]["compare"],
        signatures={
            "serving_default": CASES[case]["inputs"],
            "preprocess": ["text"],
            "token_ids": stb.PACKED_INPUTS + CASES[case].get("token_ids", []),
        },
    )
    assert len(errors) == len(requests)


def test_fresh_process_imports_no_bert_tf(fresh):
    assert fresh["_modules"] == []


def test_warmup_requests_are_real_examples(exported):
    single = st.parse_warmup_file(_path(exported["cases"]["classify"]))
    # One request per built-in example, then all of them as one batch.
    assert [len(r["inputs"]["text"]) for r in single] == [1, 1, 1, 1, 4]
    assert single[-1]["inputs"]["text"] == [r["inputs"]["text"][0] for r in single[:-1]]
    assert single == [
        {
            "model": "classify",
            "signature": s,
            "inputs": {k: [v.decode() for v in a] for k, a in i.items()},
        }
        for s, i in serving.read_warmup_requests(_path(exported["cases"]["classify"]))
    ]
    if "classify_pair" in ENABLED:
        pair = st.parse_warmup_file(_path(exported["cases"]["classify_pair"]))
        assert pair[-1]["inputs"] == {
            "text_a": [a for a, _ in PAIR_WARMUP],
            "text_b": [b for _, b in PAIR_WARMUP],
        }


def test_eight_threads_equal_sequential(fresh):
    got = fresh["classify"]
    assert got["thread_errors"] == []
    assert len(got["threads"]) == 8
    for per_thread in got["threads"]:
        for seq, par in zip(got["sequential"], per_thread):
            assert seq["label_names"] == par["label_names"]
            assert seq["label_ids"] == par["label_ids"]
            np.testing.assert_allclose(par["logits"], seq["logits"], atol=1e-6)


# ---------------------------------------------------------------------------
# Layout: versions, models.config.


def test_versions_next_no_overwrite_overwrite(exported):
    base = exported["base"]
    module = exported["cases"]["classify"]["module"]
    name = "versions"
    first = serving.export_for_serving(module, base, name=name)
    second = serving.export_for_serving(module, base, name=name)
    assert (first.version, second.version) == (1, 2)
    assert second.path == os.path.join(base, name, "2")
    pb = os.path.join(first.path, "saved_model.pb")
    before = os.stat(pb).st_mtime_ns
    with pytest.raises(FileExistsError, match=r"versions \[1, 2\].*overwrite"):
        serving.export_for_serving(module, base, name=name, version=1)
    assert os.stat(pb).st_mtime_ns == before
    replaced = serving.export_for_serving(
        module,
        base,
        name=name,
        version=1,
        overwrite=True,
        warmup_inputs=["the good film"],
    )
    assert replaced.version == 1 and replaced.warmup_records == 1
    assert st.parse_warmup_file(replaced.path)[0]["inputs"] == {"text": ["the good film"]}
    assert serving.list_versions(os.path.join(base, name)) == [1, 2]
    # Nothing half-written or hidden is left beside the versions.
    assert sorted(os.listdir(os.path.join(base, name))) == ["1", "2"]


def test_models_config_parses_and_lists_every_model(exported, tmp_path):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    base = exported["base"]
    path = serving.write_models_config(base)
    config = model_server_config_pb2.ModelServerConfig()
    with open(path) as f:
        text_format.Parse(f.read(), config)
    entries = {c.name: (c.base_path, c.model_platform) for c in config.model_config_list.config}
    models = sorted(n for n in os.listdir(base) if os.path.isdir(os.path.join(base, n)))
    assert sorted(entries) == models
    assert set(ENABLED) <= set(entries)
    for name, (base_path, platform) in entries.items():
        assert base_path == f"/models/{name}" and platform == "tensorflow"
    # For a server on this machine: absolute paths that exist.
    local = serving.models_config_text(base, serving_base_path=None)
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(local, config)
    for c in config.model_config_list.config:
        assert os.path.isabs(c.base_path)
        assert serving.list_versions(c.base_path)
    with pytest.raises(ValueError, match="invalid models.config"):
        serving.parse_models_config("model_config_list { config { nme: 1 } }")


def test_serving_release_report(exported):
    result = exported["cases"]["classify"]["result"]
    assert result.audit["tf_text"] == [
        "FastBertNormalize",
        "FastWordpieceTokenizeWithOffsets",
    ]
    report = result.serving_release_report
    assert report["tf_text_ops"] == {
        "FastBertNormalize": "2.9",
        "FastWordpieceTokenizeWithOffsets": "2.8",
    }
    assert report["serving_release_for_tf_text_ops"] == "2.12"
    major, minor = tf.__version__.split(".")[:2]
    assert report["written_by_tf"] == f"{major}.{minor}"
    assert result.min_serving_release == max(
        ["2.12", f"{major}.{minor}"],
        key=lambda v: tuple(map(int, v.split("."))),
    )
    namespaced = serving.min_serving_release({"tf_text": ["TFText>RoundRobinTrim"]})
    assert namespaced["serving_release_for_tf_text_ops"] == "2.20"


# ---------------------------------------------------------------------------
# Failures: nothing already written is lost.


def test_foreign_op_fails_the_export_and_leaves_nothing(exported, monkeypatch):
    base = exported["base"]
    module = exported["cases"]["classify"]["module"]
    config = open(os.path.join(base, serving.MODELS_CONFIG)).read()
    core = op_audit.core_tensorflow_ops()
    # As if the server's TensorFlow lacked Erf (the exact GELU): the audit
    # must name it and stop the export.
    monkeypatch.setattr(op_audit, "core_tensorflow_ops", lambda: core - {"Erf"})
    with pytest.raises(ValueError, match=r"neither core TensorFlow.*'Erf'"):
        serving.export_for_serving(module, base, name="foreign")
    assert not os.path.exists(os.path.join(base, "foreign"))
    assert open(os.path.join(base, serving.MODELS_CONFIG)).read() == config


def test_bad_arguments_fail_before_anything_is_written(exported):
    base = exported["base"]
    module = exported["cases"]["classify"]["module"]
    before = sorted(os.listdir(base))
    with pytest.raises(ValueError, match=r"model name 'a/b'"):
        serving.export_for_serving(module, base, name="a/b")
    with pytest.raises(ValueError, match="version must be >= 0"):
        serving.export_for_serving(module, base, name="x", version=-1)
    with pytest.raises(
        ValueError,
        match=r"warm-up example 0: 2 field\(s\).*takes 1: \['text'\]",
    ):
        serving.export_for_serving(module, base, name="x", warmup_inputs=[("a", "b")])
    with pytest.raises(ValueError, match="input 'text' must be a string"):
        serving.export_for_serving(module, base, name="x", warmup_inputs=[3])
    with pytest.raises(FileNotFoundError, match="nope"):
        serving.export_for_serving(str(exported["root"] / "nope"), base)
    assert sorted(os.listdir(base)) == before


def test_cli_errors_are_one_clear_line(exported, tmp_path, capsys):
    base = exported["base"]
    model_dir = exported["cases"]["classify_pair"]["model_dir"]
    not_a_model = tmp_path / "just_a_folder"
    not_a_model.mkdir()
    unknown_task = tmp_path / "unknown"
    unknown_task.mkdir()
    (unknown_task / "task.json").write_text('{"task": "summarize"}')
    capsys.readouterr()
    cases = [
        ([f"--model_dir={tmp_path / 'missing'}"], r"--model_dir not found"),
        ([f"--model_dir={not_a_model}"], r"task\.json"),
        ([f"--model_dir={unknown_task}"], r"'summarize' has no serving module"),
        (
            [f"--model_dir={model_dir}", "--name=classify_pair", "--version=1"],
            r"classify_pair/1 exists.*--overwrite",
        ),
        ([f"--model_dir={model_dir}", "--name=../up"], r"model name '\.\./up'"),
        (
            [f"--model_dir={model_dir}", f"--warmup_file={tmp_path}/none.txt"],
            r"--warmup_file not found",
        ),
        ([], r"nothing to export"),
    ]
    for args, message in cases:
        code = _run_cli(*args, f"--export_dir={base}")
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert len(err.strip().splitlines()) == 1, err
        assert re.search(message, err), (message, err)


def test_grpc_recipe_builds_requests_the_model_answers(exported):
    """savedmodels/recipes/grpc_request.py: its request, run by the module."""
    import importlib.util

    from tensorflow_serving.apis import predict_pb2

    path = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "savedmodels",
        "recipes",
        "grpc_request.py",
    )
    spec = importlib.util.spec_from_file_location("grpc_request", path)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    texts = ["a great film", "Straße café"]
    request = recipe.build_request("classify", {"text": texts})
    assert request.model_spec.name == "classify"
    assert request.model_spec.signature_name == "serving_default"
    module = exported["cases"]["classify"]["module"]
    outputs = module.signatures()["serving_default"](
        **{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
    )
    response = predict_pb2.PredictResponse()
    for name, value in outputs.items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
    got = recipe.to_json(response)
    want = classifier_reference(exported["cases"]["classify"], {"text": texts})
    np.testing.assert_allclose(got["logits"], want["logits"], atol=1e-5)
    assert all(isinstance(n, str) for n in got["label_names"])
    assert set(got["label_names"]) <= {"pos", "neg"}


def test_cli_exports_embedder_and_fill_mask_from_checkpoints(tmp_path, capsys):
    """--model=embedder|fill_mask: no fine-tuned folder, a checkpoint."""
    from bert_tf import checkpoints
    from bert_tf.heads import BertPretrainer

    vocab = tt.write_vocab(str(tmp_path))
    config = tt.write_tiny_config(str(tmp_path))
    base = tmp_path / "savedmodels"
    code = _run_cli(
        "--model=embedder",
        f"--init_checkpoint=random:{config}",
        f"--vocab_file={vocab}",
        "--do_lower_case",
        "--max_seq_length=16",
        f"--export_dir={base}",
    )
    assert code == 0, capsys.readouterr().err
    embed = tf.saved_model.load(str(base / "embedder" / "1"))
    out = embed.signatures["serving_default"](text=tf.constant(["the dog"]))
    assert out["mean_pooled"].shape == (1, 16)
    lite = str(tmp_path / "embedder.tflite")
    code = _run_cli(
        "--model=embedder",
        f"--init_checkpoint=random:{config}",
        f"--vocab_file={vocab}",
        "--do_lower_case",
        "--max_seq_length=16",
        "--format=tflite",
        f"--export_path={lite}",
    )
    assert code == 0, capsys.readouterr().err
    assert op_audit.audit_tflite(open(lite, "rb").read())
    # A Google TF1 checkpoint with its masked-LM head (as `bert_tf pretrain`
    # exports it) gives the fill-mask model; its top-1 equals the Keras head.
    pretrainer = BertPretrainer(tt.tiny_encoder())
    folder = str(tmp_path / "google")
    checkpoints.save_google_checkpoint(pretrainer, folder, vocab)
    code = _run_cli(
        "--model=fill_mask",
        f"--init_checkpoint={folder}",
        "--max_seq_length=16",
        "--top_k=3",
        f"--export_dir={base}",
    )
    assert code == 0, capsys.readouterr().err
    fill = tf.saved_model.load(str(base / "fill_mask" / "1"))
    out = fill.signatures["serving_default"](text=tf.constant(["the [MASK] dog"]))
    assert out["top_k_ids"].shape == (1, 1, 3)
    v = tt.VOCAB.index
    word_ids = [v("[CLS]"), v("the"), v("[MASK]"), v("dog"), v("[SEP]")]
    word_ids = np.array([word_ids + [0] * 11], np.int32)  # [1, 16]
    logits = pretrainer(
        {
            "input_word_ids": word_ids,
            "input_mask": (word_ids > 0).astype(np.int32),
            "input_type_ids": np.zeros_like(word_ids),
            "masked_lm_positions": np.array([[2]], np.int32),
        }
    )["mlm_logits"]  # [1, 1, V]
    want = np.argsort(-logits.numpy()[0, 0])[:3]
    np.testing.assert_array_equal(out["top_k_ids"].numpy()[0, 0], want)
    assert out["mask_positions"].numpy().tolist() == [[2]]
    assert "fill_mask" in open(base / "models.config").read()
    code = _run_cli("--model=fill_mask", f"--export_dir={base}")
    assert code == 2
    assert "--init_checkpoint" in capsys.readouterr().err
