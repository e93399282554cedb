"""The preprocessing SavedModel: TF Hub interface, assets, TF Serving's loader."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import serving_test_base as stb
import tensorflow as tf

from bert_tf.data.edge_text import EDGE_CASES
from bert_tf.export import op_audit
from bert_tf.export.preprocessing import export_preprocessing
from bert_tf.text import BertPreprocessor, BertTokenizer

SEQ_LENGTH = 24
TEXTS = [
    "The quick brown fox.",
    "Straße, naïve café!",
    "",
    "日本語のテキスト",
    "x" * 250 + " tail",
] + list(EDGE_CASES[:6])


@pytest.fixture(scope="module")
def exported(tmp_path_factory, minilm_vocab_path):
    """Exports from a copy of the vocab, then deletes that copy."""
    src = tmp_path_factory.mktemp("source")
    vocab_copy = shutil.copy(minilm_vocab_path, src / "vocab.txt")
    tokenizer = BertTokenizer(str(vocab_copy), lower_case=True)
    export_dir = str(tmp_path_factory.mktemp("export") / "preprocess")
    audit = export_preprocessing(export_dir, tokenizer, seq_length=SEQ_LENGTH)
    shutil.rmtree(src)
    preprocessor = BertPreprocessor(tokenizer, seq_length=SEQ_LENGTH)
    return dict(
        dir=export_dir,
        audit=audit,
        source=str(src),
        tokenizer=tokenizer,
        preprocessor=preprocessor,
    )


def test_vocab_is_an_asset_and_no_build_path_leaks(exported, minilm_vocab_path):
    stb.check_vocab_asset(exported["dir"], minilm_vocab_path)
    stb.check_no_path_leak(exported["dir"], exported["source"], "bert_tf_vocab_")
    loaded = stb.load_without_source(exported["dir"], exported["source"])
    stb.check_signatures(
        loaded,
        {"serving_default": ["text"], "serving_pair": ["text_a", "text_b"]},
        exact=True,
    )


def test_op_audit_lists_only_core_and_tf_text_ops(exported):
    assert exported["audit"]["tf_text"] == [
        "FastBertNormalize",
        "FastWordpieceTokenizeWithOffsets",
    ]
    assert set(exported["audit"]["core"]) <= op_audit.core_tensorflow_ops()


def test_op_audit_fails_on_a_foreign_op(exported, tmp_path):
    from tensorflow.core.protobuf import saved_model_pb2

    copy = shutil.copytree(exported["dir"], tmp_path / "copy")
    proto = saved_model_pb2.SavedModel()
    path = copy / "saved_model.pb"
    proto.ParseFromString(path.read_bytes())
    function = proto.meta_graphs[0].graph_def.library.function[0]
    function.node_def[0].op = "SomeoneElsesOp"
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(ValueError, match="SomeoneElsesOp"):
        op_audit.audit_saved_model(str(copy))


def test_existing_export_is_not_overwritten(exported):
    before = sorted(os.listdir(exported["dir"]))
    with pytest.raises(FileExistsError, match="overwrite"):
        export_preprocessing(exported["dir"], exported["tokenizer"])
    assert sorted(os.listdir(exported["dir"])) == before


FRESH_PROCESS = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # Registers TF-Text's ops, as TF Serving links them.
    export_dir, texts = sys.argv[1], json.loads(sys.argv[2])
    out = {}
    m = tf.saved_model.load(export_dir)
    packed = m(tf.constant(texts))
    out["call"] = {k: v.numpy().tolist() for k, v in packed.items()}
    pair = m.signatures["serving_pair"](text_a=tf.constant(texts),
                                        text_b=tf.constant(texts[::-1]))
    out["pair"] = {k: v.numpy().tolist() for k, v in pair.items()}
    ids = m.tokenize(tf.constant(texts))
    out["tokenize"] = ids.to_list()
    _, starts, ends = m.tokenize_with_offsets(tf.constant(texts))
    out["offsets"] = [starts.to_list(), ends.to_list()]
    out["pack8"] = m.bert_pack_inputs([ids, ids], seq_length=tf.constant(8))[
        "input_word_ids"].numpy().tolist()
    out["pack_default"] = m.bert_pack_inputs([ids])["input_word_ids"].shape[1]
    out["special"] = {k: int(v) for k, v in
                      m.tokenize.get_special_tokens_dict().items()}
    out["do_lower_case"] = bool(m.tokenize.do_lower_case.numpy())
    with open(m.tokenize.vocab_file.asset_path.numpy().decode()) as f:
      out["vocab_lines"] = len(f.read().splitlines())
    sig = m.signatures["serving_default"]
    out["input_shape"] = sig.structured_input_signature[1]["text"].shape.as_list()
    out["modules"] = sorted(m for m in sys.modules if m.startswith(("bert_tf", "keras_hub")))
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def fresh_process_results(exported):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            FRESH_PROCESS,
            exported["dir"],
            json.dumps(TEXTS),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_loads_without_bert_tf_and_matches_keras(exported, fresh_process_results, tmp_path):
    got = fresh_process_results
    assert got["modules"] == []
    want = exported["preprocessor"](tf.constant(TEXTS))
    stb.assert_arrays_equal(got["call"], want)
    # TF Serving's path: the TF1 loader and Session.run on tensor names.
    stb.check_tf1_loader(
        exported["dir"],
        [
            {"signature": "serving_default", "inputs": {"text": TEXTS}},
            {"signature": "serving_pair", "inputs": {"text_a": TEXTS, "text_b": TEXTS[::-1]}},
        ],
        lambda inputs: exported["preprocessor"](
            [tf.constant(v) for v in inputs.values()]
            if len(inputs) > 1
            else tf.constant(inputs["text"])
        ),
        stb.assert_arrays_equal,
        tmp_path,
        signatures={"serving_default": ["text"], "serving_pair": ["text_a", "text_b"]},
    )
    pair = exported["preprocessor"]([tf.constant(TEXTS), tf.constant(TEXTS[::-1])])
    for key, value in pair.items():
        np.testing.assert_array_equal(got["pair"][key], value, err_msg=key)
    tokenizer = exported["tokenizer"]
    assert got["tokenize"] == tokenizer(TEXTS).to_list()
    _, starts, ends = tokenizer.tokenize_with_offsets(TEXTS)
    assert got["offsets"] == [starts.to_list(), ends.to_list()]


def test_tf_hub_interface(exported, fresh_process_results):
    got = fresh_process_results
    assert got["input_shape"] == [None]
    assert np.asarray(got["pack8"]).shape == (len(TEXTS), 8)
    assert got["pack_default"] == SEQ_LENGTH
    assert got["special"] == {
        "padding_id": 0,
        "unknown_id": 100,
        "start_of_sequence_id": 101,
        "end_of_segment_id": 102,
        "mask_id": 103,
        "vocab_size": 30522,
    }
    assert got["do_lower_case"] is True
    assert got["vocab_lines"] == 30522


def test_wrong_input_type_is_rejected(exported):
    import tensorflow_text  # noqa: F401  (registers TF-Text's ops)

    m = tf.saved_model.load(exported["dir"])
    # Rejected before the graph runs, naming the expected dtype.
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match="expected to be a string tensor but is a int32",
    ):
        m.signatures["serving_default"](text=tf.constant([1, 2]))
    with pytest.raises((TypeError, ValueError), match="string"):
        m(tf.constant([[b"a"]]))
