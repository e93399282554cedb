"""Tokenize + pack in TFLite: builtins and TF-Text ops only, equal to TF."""

import numpy as np
import pytest
import serving_test_base as stb
import tensorflow as tf

from bert_tf.data.edge_text import EDGE_CASES
from bert_tf.export import op_audit
from bert_tf.export.preprocessing import PreprocessingModule
from bert_tf.export.tflite import convert_preprocessing
from bert_tf.text import BertPreprocessor, BertTokenizer

litert = pytest.importorskip("ai_edge_litert.interpreter")
SEQ_LENGTH = 32

# Bad input, the same in Keras, the SavedModel graph and TFLite.
BAD_INPUTS = {
    "empty": [""],
    "whitespace": [" \t\n\u3000 "],
    "1MB": ["word " * 200_000],
    "invalid UTF-8": [b"ab\xffcd \xe6\x97 \xc0\xaf", b"\x80"],
    "NUL and control": ["a\x00b\x01c\x1b[0m\x7f"],
    "mixed scripts": ["mixedСкрипт日本abc١٢٣ 😀"],
}


@pytest.fixture(scope="module")
def setup(minilm_vocab_path):
    tokenizer = BertTokenizer(minilm_vocab_path, lower_case=True)
    model = convert_preprocessing(tokenizer, seq_length=SEQ_LENGTH)
    interpreter = stb.tflite_interpreter(model)
    module = PreprocessingModule(tokenizer, seq_length=SEQ_LENGTH)
    return dict(
        model=model,
        interpreter=interpreter,
        module=module,
        keras=BertPreprocessor(tokenizer, seq_length=SEQ_LENGTH),
    )


def run_tflite(setup, name, **inputs):
    return stb.run_tflite(setup["interpreter"].get_signature_runner(name), **inputs)


assert_same = stb.assert_arrays_equal


def test_only_builtins_and_tf_text_custom_ops(setup):
    assert op_audit.audit_tflite(setup["model"]) == [
        "FastBertNormalize",
        "FastWordpieceTokenizeWithOffsets",
        "RaggedTensorToTensor",  # The one-segment packer (TF-Text's kernel).
    ]
    assert setup["interpreter"].get_signature_list() == {
        "serving_default": {
            "inputs": ["text"],
            "outputs": ["input_mask", "input_type_ids", "input_word_ids"],
        },
        "serving_pair": {
            "inputs": ["text_a", "text_b"],
            "outputs": ["input_mask", "input_type_ids", "input_word_ids"],
        },
    }


def test_audit_rejects_ops_litert_lacks():
    class Flexy(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def upper(self, text):
            return tf.strings.upper(text)

    module = Flexy()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.upper.get_concrete_function()], module
    )
    converter.allow_custom_ops = True
    with pytest.raises(ValueError, match="StringUpper"):
        op_audit.audit_tflite(converter.convert())


@pytest.mark.parametrize("batch", [1, 7])
def test_single_and_pair_equal_the_tf_graph(setup, stdlib_lines, batch):
    texts = stdlib_lines[::997] + list(EDGE_CASES)
    for start in range(0, len(texts) - batch + 1, batch * 3):
        chunk = texts[start : start + batch]
        other = texts[::-1][start : start + batch]
        assert_same(
            run_tflite(setup, "serving_default", text=chunk),
            setup["module"](tf.constant(chunk)),
        )
        assert_same(
            run_tflite(setup, "serving_pair", text_a=chunk, text_b=other),
            setup["module"].call_pair(tf.constant(chunk), tf.constant(other)),
        )


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_defined_result_everywhere(setup, case):
    texts = BAD_INPUTS[case]
    keras_out = setup["keras"](tf.constant(texts))
    assert_same(setup["module"](tf.constant(texts)), keras_out)
    assert_same(run_tflite(setup, "serving_default", text=texts), keras_out)
    ids = np.asarray(keras_out["input_word_ids"])
    assert (ids[:, 0] == 101).all()  # Always a valid [CLS] ... [SEP] row.
    if case in ("empty", "whitespace"):
        assert ids[:, 1].tolist() == [102] * len(texts)


def test_empty_batch(setup):
    texts = ["the fox", "", "日本"]
    want = stb.check_batches(
        lambda text: setup["keras"](tf.constant(text, tf.string)), lambda n: dict(text=texts[:n])
    )
    assert want[0]["input_word_ids"].shape == (0, SEQ_LENGTH)
    got = stb.check_batches(
        lambda **inputs: run_tflite(setup, "serving_default", **inputs),
        lambda n: dict(text=texts[:n]),
    )
    assert got[0]["input_word_ids"].shape == (0, SEQ_LENGTH)
    for n, outputs in got.items():
        stb.assert_outputs_close(outputs, want[n])


def test_cli_writes_both_formats(tmp_path, tiny_vocab):
    import subprocess
    import sys

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(tiny_vocab) + "\n")
    base = [
        sys.executable,
        "-m",
        "bert_tf",
        "export",
        f"--vocab_file={vocab}",
        "--do_lower_case",
        "--max_seq_length=16",
    ]

    def run(fmt, path):
        return subprocess.run(
            base + [f"--format={fmt}", f"--export_path={path}"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    for fmt, path in (
        ("saved_model", tmp_path / "pre" / "1"),
        ("tflite", tmp_path / "pre.tflite"),
    ):
        result = run(fmt, path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert path.exists()
    # An existing version is never overwritten silently.
    again = run("saved_model", tmp_path / "pre" / "1")
    assert again.returncode == 2 and "overwrite" in again.stderr
