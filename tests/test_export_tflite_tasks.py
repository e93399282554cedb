"""Task models as TFLite: raw strings in, equal to TF; quantized variants.

A tiny classifier is trained first on a separable task (the sentiment word
decides the label), so the quantized files are judged on real decisions, not
on the near-ties of a random model. References: the TF serving module itself
(float32 to 1e-4; labels of the quantized files on held-out texts).
"""

import os

import keras
import numpy as np
import pytest
import serving_test_base as stb
import tasks_testing as tt
import tensorflow as tf

from bert_tf import heads
from bert_tf.export import op_audit, task_serving, tflite

make_texts = tt.make_texts

litert = pytest.importorskip("ai_edge_litert.interpreter")
SEQ_LENGTH = 16
LABELS = ["negative", "positive"]
interpreter = stb.tflite_interpreter
run = stb.run_tflite


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    keras.utils.set_random_seed(1)
    tokenizer = tt.tokenizer(str(tmp_path_factory.mktemp("vocab")))
    model = heads.BertClassifier(tt.tiny_encoder(), num_classes=2, dropout=0.0)
    module = task_serving.ClassifierServing(model, tokenizer, SEQ_LENGTH, labels=LABELS)
    texts, labels = make_texts(384, seed=0)
    inputs = {k: v.numpy() for k, v in module.preprocessor(tf.constant(texts)).items()}
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(inputs, labels, batch_size=32, epochs=12, verbose=0)
    held_out, held_out_labels = make_texts(200, seed=1)
    want = module.serve(tf.constant(held_out))
    return dict(
        module=module,
        tokenizer=tokenizer,
        model=model,
        train=texts,
        held_out=held_out,
        held_out_labels=held_out_labels,
        want=want,
    )


@pytest.fixture(scope="module")
def variants(trained):
    return {
        q: tflite.convert_task(
            trained["module"],
            q,
            representative_texts=trained["train"] if q == "int8" else None,
        )
        for q in tflite.QUANTIZATIONS
    }


def test_the_float_model_learned_the_task(trained):
    predicted = trained["want"]["label_ids"].numpy()
    assert (predicted == trained["held_out_labels"]).mean() >= 0.95


@pytest.mark.parametrize("quantization", tflite.QUANTIZATIONS)
def test_signatures_and_only_tf_text_custom_ops(variants, quantization):
    model = variants[quantization]
    assert op_audit.audit_tflite(model) == [
        "FastBertNormalize",
        "FastWordpieceTokenizeWithOffsets",
        "RaggedTensorToTensor",
    ]
    assert interpreter(model).get_signature_list() == {
        "serving_default": {
            "inputs": ["text"],
            "outputs": ["label_ids", "label_names", "logits", "probabilities"],
        },
        "preprocess": {
            "inputs": ["text"],
            "outputs": ["input_mask", "input_type_ids", "input_word_ids"],
        },
    }


def test_variants_are_what_they_claim(variants):
    def dtypes(model):
        lite = interpreter(model)
        found, subgraph = set(), 0
        while True:  # Every signature's subgraph.
            try:
                details = lite.get_tensor_details(subgraph)
            except ValueError:
                return found
            found.update(d["dtype"] for d in details)
            subgraph += 1

    assert np.float32 in dtypes(variants["float32"])
    assert np.float16 not in dtypes(variants["float32"])
    assert np.int8 not in dtypes(variants["float32"])
    assert np.float16 in dtypes(variants["float16"])
    assert np.int8 in dtypes(variants["dynamic_int8"])
    assert np.int8 in dtypes(variants["int8"])
    sizes = tflite.size_report(variants)
    assert sizes["float16"]["bytes"] < sizes["float32"]["bytes"]
    assert sizes["float32"]["vs_float32"] == 1.0


@pytest.mark.parametrize("batch", [1, 3])
def test_float32_equals_the_tf_module(trained, variants, batch):
    texts = trained["held_out"][:30] + ["", "GOOD!!", "x" * 300]
    chunks = [texts[start : start + batch] for start in range(0, len(texts) - batch + 1, batch)]
    stb.check_tflite(
        trained["module"],
        [{"text": chunk} for chunk in chunks],
        reference=lambda inputs: trained["module"].serve(tf.constant(inputs["text"])),
        model=variants["float32"],
    )
    stb.check_tflite(
        trained["module"],
        [{"text": texts[:3]}],
        reference=lambda inputs: trained["module"].preprocessor(tf.constant(inputs["text"])),
        model=variants["float32"],
        signature="preprocess",
    )


@pytest.mark.parametrize("quantization", ["float16", "dynamic_int8", "int8"])
def test_quantized_labels_agree_on_held_out_text(trained, variants, quantization):
    runner = interpreter(variants[quantization]).get_signature_runner("serving_default")
    held_out = trained["held_out"]
    want = trained["want"]["label_ids"].numpy()
    got = np.concatenate(
        [run(runner, text=held_out[i : i + 8])["label_ids"] for i in range(0, len(held_out), 8)]
    )
    one = np.concatenate([run(runner, text=[t])["label_ids"] for t in held_out[:20]])
    np.testing.assert_array_equal(one, got[:20])  # Batch 1 == batch 8.
    assert (got == want).mean() >= 0.99, quantization


def test_int8_needs_representative_texts(trained):
    module = trained["module"]
    with pytest.raises(ValueError, match="representative_texts"):
        tflite.convert_task(module, "int8")
    with pytest.raises(ValueError, match="quantization='int4'"):
        tflite.convert_task(module, "int4")
    with pytest.raises(ValueError, match="empty"):
        tflite.convert_task(module, "int8", representative_texts=[])
    with pytest.raises(ValueError, match=r"\[1\] has 2 texts.*\(text\)"):
        tflite.convert_task(module, "int8", representative_texts=["a", ("b", "c")])
    with pytest.raises(TypeError, match=r"\[0\] input 'text' is a int"):
        tflite.convert_task(module, "int8", representative_texts=[7])


BAD_INPUTS = {
    "empty string": [""],
    "whitespace": [" \t\n\u3000 "],
    "1MB": ["good " * 200_000],
    "invalid UTF-8": [b"ab\xffcd \xe6\x97 good \xc0\xaf", b"\x80"],
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_the_tf_result(trained, variants, case):
    texts = BAD_INPUTS[case]
    want = trained["module"].serve(tf.constant(texts))
    for quantization in ("float32", "int8"):
        runner = interpreter(variants[quantization]).get_signature_runner("serving_default")
        got = run(runner, text=texts)
        np.testing.assert_array_equal(got["label_ids"], want["label_ids"])
        if quantization == "float32":
            np.testing.assert_allclose(got["logits"], want["logits"].numpy(), atol=1e-4, rtol=0)


def test_empty_batch(trained, variants):
    want = stb.check_batches(
        trained["module"].serve,
        lambda n: dict(text=tf.constant(trained["held_out"][:n], tf.string)),
    )
    assert want[0]["logits"].shape == (0, 2)
    runner = interpreter(variants["float32"]).get_signature_runner("serving_default")
    got = stb.check_batches(
        lambda **inputs: run(runner, **inputs), lambda n: dict(text=trained["held_out"][:n])
    )
    assert got[0]["logits"].shape == (0, 2)
    assert got[0]["label_names"].shape == (0,)
    for n, outputs in got.items():
        stb.assert_outputs_close(outputs, want[n], err_msg=f"batch {n}")


@pytest.fixture(scope="module")
def pair(trained):
    module = task_serving.ClassifierServing(
        trained["model"], trained["tokenizer"], SEQ_LENGTH, LABELS, pair=True
    )
    return module, interpreter(tflite.convert_task(module))


def test_pair_equals_the_tf_module_and_unequal_batches_fail(pair, trained):
    module, model = pair
    runner = model.get_signature_runner("serving_default")
    a, b = trained["held_out"][:3], trained["held_out"][3:6]
    for batch in (1, 3):
        got = run(runner, text_a=a[:batch], text_b=b[:batch])
        want = module.serve(tf.constant(a[:batch]), tf.constant(b[:batch]))
        np.testing.assert_allclose(got["logits"], want["logits"].numpy(), atol=1e-4, rtol=0)
        stb.assert_outputs_close(got, want)
    # TF names the inputs; TFLite has no Assert op, so LiteRT fails in the
    # first kernel that sees the mismatch: an exception, never garbage.
    stb.check_unequal_batches(
        module.serve, {"text_a": tf.constant(a[:2]), "text_b": tf.constant(b[:1])}, "text_a and"
    )
    stb.check_unequal_batches(
        lambda **inputs: run(runner, **inputs),
        {"text_a": a[:2], "text_b": b[:1]},
        error=RuntimeError,
    )
    # The interpreter stays usable after the error.
    got = run(runner, text_a=a, text_b=b)
    want = module.serve(tf.constant(a), tf.constant(b))
    np.testing.assert_allclose(got["logits"], want["logits"].numpy(), atol=1e-4, rtol=0)


def test_embedder_float32_equals_the_tf_module(trained):
    encoder = trained["model"].encoder
    module = task_serving.EmbedderServing(
        heads.BertEmbedder(encoder, pooling="mean", normalize=True),
        trained["tokenizer"],
        SEQ_LENGTH,
    )
    stb.check_tflite(
        module,
        [{"text": trained["held_out"][:1]}, {"text": trained["held_out"][1:4]}],
        reference=lambda inputs: module.serve(tf.constant(inputs["text"])),
    )


def test_write_tflite_never_loses_a_file(tmp_path):
    path = str(tmp_path / "sub" / "model.tflite")
    assert tflite.write_tflite(path, b"first") == path
    with pytest.raises(FileExistsError, match="overwrite"):
        tflite.write_tflite(path, b"second")
    assert open(path, "rb").read() == b"first"
    tflite.write_tflite(path, b"second", overwrite=True)
    assert open(path, "rb").read() == b"second"
    assert os.listdir(tmp_path / "sub") == ["model.tflite"]


NER_TEXTS = [
    "John Smith lives in Paris.",
    "José works at Acme Corp in Zürich",
    "",
    "the quick brown fox",
]


@pytest.mark.parametrize("batch", [slice(0, 1), slice(0, 4), slice(0, 0)])
def test_token_classifier_float32_equals_the_tf_module(trained, batch):
    # Random head weights: every tag occurs, so entities of several types
    # (and I- after O) are cut from the input in both runtimes.
    keras.utils.set_random_seed(3)
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    model = heads.BertTokenClassifier(trained["model"].encoder, num_classes=len(labels))
    module = task_serving.TokenClassifierServing(model, trained["tokenizer"], SEQ_LENGTH, labels)
    texts = NER_TEXTS[batch]

    def reference(inputs):
        want = module.serve(tf.constant(inputs["text"], tf.string))
        if texts:
            assert want["num_entities"].numpy().sum() > 0
        return want

    stb.check_tflite(module, [{"text": texts}], reference=reference)


def test_fill_mask_float32_equals_the_tf_module(trained):
    keras.utils.set_random_seed(4)
    module = task_serving.FillMaskServing(
        heads.BertPretrainer(trained["model"].encoder),
        trained["tokenizer"],
        SEQ_LENGTH,
        top_k=3,
    )

    def reference(inputs):
        want = module.serve(tf.constant(inputs["text"]))
        assert want["num_masks"].numpy().sum() > 0
        return want

    stb.check_tflite(
        module,
        [
            {"text": ["the [MASK] was good"]},
            {"text": ["the [MASK] was [MASK] .", "no mask here", "[MASK]"]},
        ],
        reference=reference,
    )
