"""Classification / regression: readers, label maps, metrics, training."""

import json
import os

import keras
import numpy as np
import pytest
import tasks_testing as tt
import tensorflow as tf

from bert_tf.tasks import classification as cls
from bert_tf.tasks import common
from bert_tf.training import distribute

sklearn_metrics = pytest.importorskip("sklearn.metrics")
scipy_stats = pytest.importorskip("scipy.stats")


def test_read_csv_tsv_jsonl_pairs(tmp_path):
    d = str(tmp_path)
    csv_path = tt.write(d, "a.csv", 'q,a,y\n"good, film",bad,1\nx,"y\nz",0\n')
    data = cls.read_classification_file(csv_path, ["q", "a"], "y")
    assert data.texts == [("good, film", "bad"), ("x", "y\nz")]
    assert data.labels == ["1", "0"] and data.lines == [2, 3]
    jsonl = tt.write(d, "b.jsonl", '{"t": "a", "l": 2}\n\n{"t": "b", "l": 10}\n')
    data = cls.read_classification_file(jsonl, "t", "l")
    assert data.labels == ["2", "10"] and data.lines == [1, 3]
    assert cls.label_list(data.labels) == ["2", "10"]
    reg = cls.read_classification_file(jsonl, "t", "l", regression=True)
    assert reg.labels == [2.0, 10.0]
    unlabeled = cls.read_classification_file(jsonl, "t", "nope", require_labels=False)
    assert unlabeled.labels is None


@pytest.mark.parametrize(
    "name,text,kwargs,match",
    [
        (
            "e.tsv",
            "s\tlabel\na\tpos\nb\tneg\textra\n",
            {},
            r"e\.tsv:3: malformed TSV line: 3 fields, but the header has 2",
        ),
        (
            "e.tsv",
            "s\tlabel\na\tpos\n",
            {"label_column": "y"},
            r"e\.tsv:1 \(header\): no label column 'y'; the columns are 's', "
            "'label'",
        ),
        ("e.tsv", "s\tlabel\na\tpos\n", {"text_columns": ["t"]}, r"no text column 't'"),
        (
            "e.jsonl",
            '{"s": "a", "label": 1}\n{"s": "b", "label": 2\n',
            {},
            r"e\.jsonl:2:\d+: malformed JSON line",
        ),
        (
            "e.tsv",
            "s\tlabel\na\tpos\nb\t\n",
            {},
            r"e\.tsv:3: column 'label': "
            "missing or empty label",
        ),
        (
            "e.tsv",
            "s\tlabel\na\t1.5\nb\thigh\n",
            {"regression": True},
            r"e\.tsv:3: column 'label': 'high' is not a number",
        ),
        ("e.xml", "s\tlabel\n", {}, r"cannot tell the format"),
    ],
)
def test_reader_errors(tmp_path, name, text, kwargs, match):
    path = tt.write(str(tmp_path), name, text)
    kwargs = {"text_columns": ["s"], "label_column": "label", **kwargs}
    with pytest.raises(ValueError, match=match):
        cls.read_classification_file(path, **kwargs)


def test_missing_file_and_unseen_label(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        cls.read_classification_file(str(tmp_path / "nope.tsv"), ["s"])
    data = cls.ClassificationData([("a",), ("b",)], ["pos", "meh"], [2, 7], "dev.tsv")
    with pytest.raises(
        ValueError,
        match=r"dev\.tsv:7: label 'meh' was not "
        "seen in training",
    ):
        cls.encode_labels(data, ["neg", "pos"])


def test_classification_metrics_equal_sklearn():
    rng = np.random.default_rng(0)
    for num_classes in (2, 5):
        y = rng.integers(0, num_classes, 200)
        logits = rng.normal(size=(200, num_classes))
        logits[np.arange(200), y] += rng.normal(1.0, 1.0, 200)
        if num_classes == 5:  # A class nobody predicts or has.
            y[y == 4] = 3
            logits[:, 4] = -9.0
        pred = logits.argmax(-1)
        got = cls.classification_metrics(y, logits)
        assert got["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y, pred))
        assert got["macro_f1"] == pytest.approx(
            sklearn_metrics.f1_score(y, pred, average="macro"), abs=1e-6
        )
        assert got["mcc"] == pytest.approx(sklearn_metrics.matthews_corrcoef(y, pred))


def test_regression_metrics_equal_scipy():
    rng = np.random.default_rng(1)
    y = np.round(rng.normal(size=100), 1)  # Ties in both.
    p = np.round(y + rng.normal(size=100), 1)
    got = cls.regression_metrics(y, p)
    assert got["pearson"] == pytest.approx(scipy_stats.pearsonr(y, p)[0])
    assert got["spearman"] == pytest.approx(scipy_stats.spearmanr(y, p)[0])


def test_schedule_and_weight_decay_exclusions():
    opt = common.make_optimizer(1e-3, num_train_steps=100, warmup_proportion=0.1)
    schedule = opt._learning_rate
    values = [float(schedule(s)) for s in (0, 5, 10, 55, 100)]
    # BERT's recipe: linear warm-up to the peak over 10% of the steps, then
    # linear decay of the peak to 0 at the last step.
    assert values[0] == pytest.approx(0.0, abs=1e-9)
    assert values[1] == pytest.approx(0.5 * 1e-3)  # Half-way up the ramp.
    assert values[3] == pytest.approx(1e-3 * (1 - 55 / 100))
    assert values[4] == pytest.approx(0.0, abs=1e-9)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert [float(restored(s)) for s in (0, 5, 55)] == pytest.approx(
        [values[0], values[1], values[3]]
    )
    dense = keras.layers.Dense(2)
    norm = keras.layers.LayerNormalization()
    dense.build((None, 3)), norm.build((None, 2))
    decayed = {v.path: opt._use_weight_decay(v) for v in dense.weights + norm.weights}
    assert sorted(k for k, v in decayed.items() if v) == [dense.kernel.path]


def test_finetune_evaluate_predict_and_label_map(tmp_path):
    d = str(tmp_path)
    rows = ["sentence\tlabel"]
    for i in range(32):
        text = ["good great film", "bad awful movie"][i % 2]
        rows.append(f"{text} {'xyz'[i % 3]}\t{['yes', 'no'][i % 2]}")
    path = tt.write(d, "train.tsv", "\n".join(rows) + "\n")
    data = cls.read_classification_file(path, ["sentence"], "label")
    out = os.path.join(d, "model")
    result = cls.finetune_classifier(
        data,
        tt.tiny_encoder(),
        tt.tokenizer(d),
        os.path.join(d, "vocab.txt"),
        out,
        eval_data=data,
        max_seq_length=8,
        train_batch_size=8,
        learning_rate=3e-2,
        num_train_epochs=8,
        warmup_proportion=0.1,
        text_columns=["sentence"],
        verbose=0,
    )
    info = json.load(open(os.path.join(out, "task.json")))
    assert info["labels"] == ["no", "yes"]
    # Learns the task (thread-order float sums make 1.0 not guaranteed).
    assert result["eval"]["accuracy"] >= 0.9
    metrics = cls.evaluate_classifier(out, data)
    assert metrics["accuracy"] == pytest.approx(result["eval"]["accuracy"])
    records = cls.predict_classifier(out, data, os.path.join(d, "p.jsonl"))
    agree = np.mean([r["label"] == g for r, g in zip(records, data.labels)])
    assert agree == pytest.approx(metrics["accuracy"])
    assert all(set(r["probabilities"]) == {"no", "yes"} for r in records)
    with open(os.path.join(d, "p.jsonl")) as f:
        assert [json.loads(x)["line"] for x in f] == list(range(2, 34))


def test_finetune_regression_from_tf_data(tmp_path):
    d = str(tmp_path)
    texts = ["good film", "bad movie", "great film", "awful movie"] * 4
    values = [1.0, 0.0, 1.0, 0.0] * 4
    ds = tf.data.Dataset.from_tensor_slices((texts, values))
    result = cls.finetune_classifier(
        ds,
        tt.tiny_encoder(),
        tt.tokenizer(d),
        os.path.join(d, "vocab.txt"),
        os.path.join(d, "reg"),
        regression=True,
        max_seq_length=6,
        train_batch_size=4,
        learning_rate=1e-3,
        num_train_epochs=1,
        verbose=0,
    )
    assert result["eval"] is None
    model_dir = os.path.join(d, "reg")
    data = cls.ClassificationData([(t,) for t in texts], values, list(range(16)), "mem")
    metrics = cls.evaluate_classifier(model_dir, data)
    assert set(metrics) >= {"pearson", "spearman", "mse"}
    assert "value" in cls.predict_classifier(model_dir, data)[0]


def test_mixed_precision_flag_keeps_float32_logits():
    from bert_tf.heads import BertClassifier

    try:
        # force: bfloat16 even on a CPU without AVX512-BF16/AMX.
        distribute.set_mixed_precision("bfloat16", force=True)
        model = BertClassifier(tt.tiny_encoder(), num_classes=3)
        assert model.encoder.dtype_policy.compute_dtype == "bfloat16"
        ids = np.ones((2, 6), np.int32)
        logits = model({"input_word_ids": ids, "input_mask": ids, "input_type_ids": 0 * ids})
        assert logits.dtype == "float32"
        with pytest.raises(ValueError, match="float64"):
            distribute.set_mixed_precision("float64")
    finally:
        distribute.set_mixed_precision(None)
    assert keras.config.dtype_policy().name == "float32"
