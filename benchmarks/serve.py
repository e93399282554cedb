"""Serving benchmark: raw strings → logits, exported model against the peers.

One MiniLM-shaped classifier (the real all-MiniLM-L6-v2 encoder weights and a
2-class head), `seq_length` 128, real text (standard-library docstrings,
several sentences per string). Measured in one run, on the same strings:

* `saved_model`: bert_tf's exported SavedModel (`ClassifierServing`,
  tokenization and packing in the graph), loaded with `tf.saved_model.load`
  and called through its `serving_default` signature;
* `keras_python_tokenizer`: the same Keras model fed by Python-side
  tokenization (HF `tokenizers`' BertWordPiece, the fastest Python-side
  WordPiece there is) and `Model.predict_on_batch`;
* `onnxruntime`: HF `tokenizers` + ONNX Runtime on the same weights (the
  id-level model converted with `tf2onnx`, opset 17, ORT's full graph
  optimizations); skipped without `tf2onnx` and `onnxruntime`;
* `hf_pipeline`: `transformers`' text-classification pipeline on PyTorch;
  skipped without `torch` and `transformers` (never installed by bert_tf);
* TFLite (`bert_tf.export.tflite.convert_task`): single-string latency and
  file size, float32 against dynamic-range int8 and full int8.

Every side truncates to 128 pieces and pads each batch to its longest row
(the exported classifier trims its packed inputs in the graph), so all do
the same matrix work. Each throughput is strings/s at batch 1 and batch 32 (best of `--repeats`
passes over the same strings, after a warm-up). Prints progress to stderr and
ONE JSON line to stdout, with the ratios `saved_model / peer` and the max abs
difference of each peer's logits from the SavedModel's.

Usage:
  python benchmarks/serve.py [--strings 256] [--repeats 3] [--work_dir DIR]

Optional peers: pip install tokenizers onnxruntime onnx sympy and
`pip install --no-deps tf2onnx` (its metadata pins an old protobuf; it runs
with the one TF 2.20 needs).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _common  # noqa: E402

from bert_tf.data import stdlib_corpus  # noqa: E402
from bert_tf.encoder import INPUT_NAMES  # noqa: E402
from bert_tf.export import saved_model_writer, tflite  # noqa: E402
from bert_tf.export.classifier_serving import ClassifierServing  # noqa: E402
from bert_tf.heads import BertClassifier  # noqa: E402
from bert_tf.tasks import common  # noqa: E402

SEQ_LENGTH = 128
LABELS = ("negative", "positive")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def real_strings(count: int) -> list:
    """Docstring paragraphs of a few hundred bytes: real, varied text."""
    texts = []
    for doc in stdlib_corpus.docstrings():
        text = " ".join(doc.text.split())
        if len(text) >= 200:
            texts.append(text[:600])
        if len(texts) == count:
            break
    return texts


def throughput(fn, texts: list, batch_size: int, repeats: int) -> float:
    """Strings/s of `fn(list_of_strings)` over `texts` in batches."""
    batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
    fn(batches[0])  # Warm-up (tracing, allocations).

    def run():
        for batch in batches:
            fn(batch)

    return len(texts) / _common.best_time(run, repeats)


def hf_tokenizer(vocab_file: str):
    """HF `tokenizers` BertWordPiece: truncated to SEQ_LENGTH, padded to the
    batch's longest row (as the exported classifier does, and HF pipelines)."""
    from tokenizers import BertWordPieceTokenizer

    tok = BertWordPieceTokenizer(vocab_file, lowercase=True)
    tok.enable_truncation(SEQ_LENGTH)
    tok.enable_padding()  # To the longest row of each batch.

    def encode(texts):
        encodings = tok.encode_batch(texts)
        return {
            "input_word_ids": np.array([e.ids for e in encodings], np.int32),
            "input_mask": np.array([e.attention_mask for e in encodings], np.int32),
            "input_type_ids": np.array([e.type_ids for e in encodings], np.int32),
        }

    return encode


def onnx_session(model, work_dir: str):
    """ONNX Runtime session of the id-level model, or None without the libs."""
    try:
        import onnxruntime as ort
        import tf2onnx
    except ImportError as e:
        log(f"onnxruntime peer skipped: {e}")
        return None
    path = os.path.join(work_dir, "classifier.onnx")
    spec = [tf.TensorSpec([None, None], tf.int32, name=n) for n in INPUT_NAMES]

    @tf.function(input_signature=spec)
    def ids_to_logits(word_ids, mask, type_ids):
        inputs = dict(zip(INPUT_NAMES, (word_ids, mask, type_ids)))
        return model(inputs, training=False)

    log("converting the id-level model to ONNX (tf2onnx, opset 17) ...")
    tf2onnx.convert.from_function(ids_to_logits, input_signature=spec, opset=17, output_path=path)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def hf_pipeline_peer():
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        return None, f"skipped: {e}"
    # The HF checkpoint is a BertModel without a classification head; a
    # pipeline would add a random head, so logits would not be comparable.
    return None, "skipped: no comparable HF classification head offline"


def tflite_figures(module, texts: list, work_dir: str, repeats: int) -> dict:
    """Sizes and single-string latency of the TFLite variants."""
    try:
        from ai_edge_litert import interpreter as litert
    except ImportError as e:
        return {"skipped": f"{e} (pip install ai-edge-litert)"}
    import tensorflow_text

    figures = {}
    reference = None
    for quantization in ("float32", "dynamic_int8", "int8"):
        log(f"TFLite {quantization} ...")
        kwargs = {}
        if quantization == "int8":
            kwargs["representative_texts"] = texts[:64]
        data = tflite.convert_task(module, quantization, **kwargs)
        runner = litert.InterpreterWithCustomOps(
            custom_op_registerers=(tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS),
            model_content=data,
        ).get_signature_runner("serving_default")

        def one(text, runner=runner):
            return runner(text=np.array([text], object))["logits"]

        latency = min(_common.best_time(lambda t=t: one(t), repeats) for t in texts[:8])
        labels = np.array([np.argmax(one(t)) for t in texts[:64]])
        if reference is None:
            reference = labels
        figures[quantization] = {
            "bytes": len(data),
            "single_string_ms": round(1000 * latency, 2),
            "label_agreement_with_float32": float(np.mean(labels == reference)),
        }
    f32 = figures["float32"]
    for quantization in ("dynamic_int8", "int8"):
        q = figures[quantization]
        q["size_ratio_to_float32"] = round(q["bytes"] / f32["bytes"], 3)
        q["speedup_over_float32"] = round(f32["single_string_ms"] / q["single_string_ms"], 2)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strings", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work_dir", default=None)
    parser.add_argument("--no_tflite", action="store_true")
    args = parser.parse_args()
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="bert_tf_serve_")
    os.makedirs(work_dir, exist_ok=True)

    texts = real_strings(args.strings)
    encoder, tokenizer, vocab_file = common.load_initial_model("minilm", max_seq_length=SEQ_LENGTH)
    model = BertClassifier(encoder, num_classes=len(LABELS))
    module = ClassifierServing(model, tokenizer, SEQ_LENGTH, labels=LABELS, vocab_path=vocab_file)
    export_dir = os.path.join(work_dir, "saved_model")
    log("exporting the SavedModel ...")
    saved_model_writer.save_serving_module(module, export_dir, overwrite=True)
    serving = tf.saved_model.load(export_dir).signatures["serving_default"]

    def saved_model_logits(batch):
        return serving(text=tf.constant(batch))["logits"].numpy()

    encode = hf_tokenizer(vocab_file)

    def keras_logits(batch):
        return model.predict_on_batch(encode(batch))

    session = onnx_session(model, work_dir)

    def onnx_logits(batch):
        return session.run(None, encode(batch))[0]

    peers = {
        "saved_model": saved_model_logits,
        "keras_python_tokenizer": keras_logits,
    }
    if session is not None:
        peers["onnxruntime"] = onnx_logits
    _, hf_status = hf_pipeline_peer()

    reference = saved_model_logits(texts[:32])
    result = {
        "benchmark": "serve",
        "machine": _common.machine(),
        "strings": len(texts),
        "mean_bytes_per_string": float(np.mean([len(t) for t in texts])),
        "seq_length": SEQ_LENGTH,
        "hf_pipeline": hf_status,
        "strings_per_s": {},
        "max_abs_logit_diff_vs_saved_model": {},
    }
    for name, fn in peers.items():
        result["max_abs_logit_diff_vs_saved_model"][name] = float(
            np.abs(fn(texts[:32]) - reference).max()
        )
    # Interleave the peers per batch size so they share the machine's load.
    for batch_size in (1, 32):
        for name, fn in peers.items():
            log(f"{name} batch {batch_size} ...")
            rate = throughput(fn, texts, batch_size, args.repeats)
            result["strings_per_s"].setdefault(name, {})[f"batch_{batch_size}"] = round(rate, 2)
            log(f"  {rate:.2f} strings/s")
    rates = result["strings_per_s"]
    result["ratios"] = {
        f"saved_model_over_{name}_batch_{b}": round(
            rates["saved_model"][f"batch_{b}"] / rates[name][f"batch_{b}"], 3
        )
        for name in rates
        if name != "saved_model"
        for b in (1, 32)
    }
    if not args.no_tflite:
        result["tflite"] = tflite_figures(module, texts, work_dir, args.repeats)
    _common.emit(result)


if __name__ == "__main__":
    main()
