"""Distillation evidence: a MiniLM teacher, a BERT-Tiny student, on real tasks.

Figures (each a `--bench` name, `all` for both):

- `quickstart`: the quickstart's task (which package a standard-library
  docstring comes from). Teacher: all-MiniLM-L6-v2 fine-tuned on the
  training split. Student: `--student`, distilled on the training split plus
  the docstrings of the other packages as unlabelled text (the teacher's
  outputs are all they carry), once per `--student_init`. Accuracy on the
  held-out test modules.
- `wnut`: WNUT-17 NER (`../shared/data/wnut17`): teacher fine-tuned on the
  train file, student distilled on it; entity F1 on the dev file.

For each: teacher and student accuracy / F1 and their ratio, parameters,
TFLite sizes (float32, dynamic-int8), single-string latency in LiteRT (every
side on the same strings, one at a time: mean, p50, p99), the time the
teacher's logits and the student's training took. One JSON line, with the
machine's record.

Usage:

  python benchmarks/distill.py --bench=all
  python benchmarks/distill.py --bench=quickstart --student_init=embeddings,random
"""

import os
import sys
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

from bert_tf.data import stdlib_corpus  # noqa: E402
from bert_tf.export import registry, tflite  # noqa: E402
from bert_tf.recipes import stdlib_task  # noqa: E402
from bert_tf.tasks import classification, common, distillation, ner, student  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("bench", ["all"], "quickstart, wnut, or all.")
flags.DEFINE_string("data_dir", None, "The shared data (default: ../shared/data).")
flags.DEFINE_string("work_dir", "/tmp/bert_tf_distill_bench", "Where the models go.")
flags.DEFINE_boolean("reuse_teacher", True, "Keep a teacher already fine-tuned in work_dir.")
flags.DEFINE_string("student", student.DEFAULT_STUDENT, "The student preset or config.")
flags.DEFINE_list("student_init", ["embeddings"], "Student inits to compare.")
flags.DEFINE_float("temperature", 2.0, "Distillation temperature.")
flags.DEFINE_float("label_weight", 0.5, "Weight of the gold labels' loss.")
flags.DEFINE_float("learning_rate", 1e-3, "Student peak learning rate.")
flags.DEFINE_float("num_train_epochs", 10.0, "Student epochs.")
flags.DEFINE_float("teacher_epochs", 3.0, "Teacher fine-tuning epochs.")
flags.DEFINE_integer("max_seq_length", 64, "Packed length (quickstart).")
flags.DEFINE_integer("wnut_seq_length", 64, "Packed length (wnut: 99% of its sentences fit).")
flags.DEFINE_integer("num_packages", 6, "Quickstart classes.")
flags.DEFINE_integer("latency_strings", 64, "Strings timed one at a time in LiteRT.")


def data_path(*parts):
    return _common.shared_data(*parts, data_dir=FLAGS.data_dir)


def latency_ms(model: bytes, texts) -> dict:
    """Single-string latency of a TFLite task file in LiteRT, over `texts`."""
    import tensorflow_text
    from ai_edge_litert import interpreter as litert

    lite = litert.InterpreterWithCustomOps(
        custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
        model_content=model,
        num_threads=1,
    )
    runner = lite.get_signature_runner("serving_default")
    runner(text=np.array([texts[0]], dtype=object))  # Warm-up.
    times = []
    for text in texts:
        start = time.perf_counter()
        runner(text=np.array([text], dtype=object))
        times.append((time.perf_counter() - start) * 1e3)
    return {
        "mean": float(np.mean(times)),
        "p50": float(np.percentile(times, 50)),
        "p99": float(np.percentile(times, 99)),
    }


def tflite_figures(model_dir: str, texts) -> dict:
    """Sizes and single-string latencies of the float32 and dynamic-int8 files."""
    module = registry.build_serving_module(model_dir)
    out = {}
    for quantization in ("float32", "dynamic_int8"):
        model = tflite.convert_task(module, quantization)
        out[quantization] = {"mb": len(model) / 1e6, "latency_ms": latency_ms(model, texts)}
    return out


def finetune_teacher(path, train_fn):
    if FLAGS.reuse_teacher and os.path.isfile(os.path.join(path, common.TASK_FILE)):
        return None
    start = time.time()
    train_fn()
    return round(time.time() - start, 1)


def compare(teacher_dir, student_dir, result, score, texts):
    """The figures of one teacher/student pair."""
    teacher_tflite = tflite_figures(teacher_dir, texts)
    student_tflite = tflite_figures(student_dir, texts)
    t, s = score(teacher_dir), score(student_dir)
    sizes = result["parameters"]
    encoder = common.load_task(student_dir).model.encoder
    embedding = encoder.vocab_size * encoder.hidden_size  # The word-embedding table.
    return {
        "student_embedding_table_share": embedding / sizes["student"],
        "teacher_score": t,
        "student_score": s,
        "kept": s / t if t else None,
        "parameters": sizes,
        "parameter_ratio": sizes["student"] / sizes["teacher"],
        "tflite": {"teacher": teacher_tflite, "student": student_tflite},
        "int8_mb": student_tflite["dynamic_int8"]["mb"],
        "speedup_float32": teacher_tflite["float32"]["latency_ms"]["mean"]
        / student_tflite["float32"]["latency_ms"]["mean"],
        "speedup_dynamic_int8": teacher_tflite["dynamic_int8"]["latency_ms"]["mean"]
        / student_tflite["dynamic_int8"]["latency_ms"]["mean"],
        "best_epoch": result["best_epoch"],
        "seconds": {k: round(v, 1) for k, v in result["seconds"].items()},
        "examples": result["examples"],
    }


def student_knobs():
    return dict(
        student=FLAGS.student,
        temperature=FLAGS.temperature,
        label_weight=FLAGS.label_weight,
        learning_rate=FLAGS.learning_rate,
        num_train_epochs=FLAGS.num_train_epochs,
        verbose=2,
    )


def minilm_teacher(finetune, train, teacher_dir, seq, **kwargs):
    """Fine-tunes all-MiniLM-L6-v2 as the teacher with a task's `finetune_*`."""
    encoder, tokenizer, vocab = common.load_initial_model("minilm", max_seq_length=seq)
    finetune(
        train,
        encoder,
        tokenizer,
        vocab,
        teacher_dir,
        max_seq_length=seq,
        learning_rate=1e-4,
        num_train_epochs=FLAGS.teacher_epochs,
        verbose=2,
        **kwargs,
    )


def students(name, teacher_dir, train, score, texts, **data):
    """Distils one student per `--student_init`; their figures by init."""
    figures = {}
    for init in FLAGS.student_init:
        student_dir = os.path.join(FLAGS.work_dir, f"{name}_student_{init}")
        result = distillation.distill(
            teacher_dir, train, student_dir, student_init=init, **data, **student_knobs()
        )
        figures[init] = compare(teacher_dir, student_dir, result, score, texts)
    return figures


def bench_quickstart():
    seq = FLAGS.max_seq_length
    packages, train, dev, test, other = stdlib_task.make_task(
        stdlib_corpus.docstrings(), FLAGS.num_packages
    )

    def as_data(rows, name):
        return stdlib_task.classification_data(rows, name)

    teacher_dir = os.path.join(FLAGS.work_dir, "quickstart_teacher")

    def train_teacher():
        minilm_teacher(
            classification.finetune_classifier,
            as_data(train, "train"),
            teacher_dir,
            seq,
            eval_data=as_data(dev, "dev"),
            labels=packages,
        )

    teacher_seconds = finetune_teacher(teacher_dir, train_teacher)
    unlabeled = classification.ClassificationData(
        [(t,) for t in other], None, list(range(1, len(other) + 1)), "other"
    )

    def score(model_dir):
        return classification.evaluate_classifier(model_dir, as_data(test, "test"))["accuracy"]

    texts = [r["text"] for r in test][: FLAGS.latency_strings]
    figures = {"teacher_seconds": teacher_seconds, "train": len(train), "test": len(test)}
    figures.update(
        students(
            "quickstart",
            teacher_dir,
            as_data(train, "train"),
            score,
            texts,
            unlabeled=unlabeled,
            eval_data=as_data(dev, "dev"),
        )
    )
    return figures


def bench_wnut():
    train_file = data_path("wnut17", "train.conll")
    dev_file = data_path("wnut17", "dev.conll")
    if not train_file or not dev_file:
        return None
    train, dev = ner.read_conll(train_file), ner.read_conll(dev_file)
    teacher_dir = os.path.join(FLAGS.work_dir, "wnut_teacher")

    def train_teacher():
        minilm_teacher(ner.finetune_ner, train, teacher_dir, FLAGS.wnut_seq_length, eval_data=dev)

    teacher_seconds = finetune_teacher(teacher_dir, train_teacher)

    def score(model_dir):
        return ner.evaluate_ner(model_dir, dev)["f1"]

    texts = [" ".join(words) for words in dev.words][: FLAGS.latency_strings]
    figures = {"teacher_seconds": teacher_seconds}
    figures.update(students("wnut", teacher_dir, train, score, texts, eval_data=dev))
    return figures


BENCHES = {"quickstart": bench_quickstart, "wnut": bench_wnut}


def main(argv):
    del argv
    names = list(BENCHES) if "all" in FLAGS.bench else FLAGS.bench
    results = {name: BENCHES[name]() for name in names}
    settings = {k: getattr(FLAGS, k) for k in ("student", "temperature", "label_weight")}
    record = {"bench": "distill", **results, "settings": settings}
    _common.emit({**record, "machine": _common.machine()})


if __name__ == "__main__":
    app.run(main)
