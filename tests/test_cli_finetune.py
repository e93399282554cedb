"""`bert_tf finetune / evaluate / predict / convert` as a user runs them.

The commands run in this process (as `bert_tf.cli.run`, flags reset between
runs) to spare a TensorFlow start-up per command; one test runs the real
`python -m bert_tf` entry point.
"""

import json
import os
import re
import subprocess
import sys

import cli_testing
import pytest
import tasks_testing as tt

from bert_tf import cli


@pytest.fixture(autouse=True)
def _capture(capsys):
    global _capsys
    _capsys = capsys


def _run(*args, ok=True):
    return cli_testing.run_cli(_capsys, *args, ok=ok)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("cli"))
    tt.write_vocab(d)
    tt.write_tiny_config(d)
    rows = ["text,label"] + [
        f"{['good great film', 'bad awful movie'][i % 2]},{['yes', 'no'][i % 2]}" for i in range(16)
    ]
    tt.write(d, "train.csv", "\n".join(rows) + "\n")
    return d


def _init(d):
    return [f"--init_checkpoint=random:{d}/bert_config.json", f"--vocab_file={d}/vocab.txt"]


def test_classify_finetune_evaluate_predict(workdir):
    d = workdir
    out = os.path.join(d, "model")
    proc = _run(
        "finetune",
        "--task=classify",
        f"--train_file={d}/train.csv",
        f"--eval_file={d}/train.csv",
        f"--output_dir={out}",
        "--max_seq_length=8",
        "--train_batch_size=8",
        "--num_train_epochs=1",
        "--learning_rate=1e-3",
        *_init(d),
    )
    assert "best epoch 1" in proc.stdout
    results = json.load(open(os.path.join(out, "eval_results.json")))
    assert {"accuracy", "macro_f1", "mcc"} <= set(results)
    with open(os.path.join(out, "eval_predictions.jsonl")) as f:
        assert len(f.readlines()) == 16
    proc = _run("evaluate", f"--model_dir={out}", f"--eval_file={d}/train.csv")
    assert json.loads(proc.stdout)["accuracy"] == pytest.approx(results["accuracy"])
    tt.write(d, "test.jsonl", '{"text": "good film"}\n{"text": "bad"}\n')
    proc = _run(
        "predict",
        f"--model_dir={out}",
        f"--input_file={d}/test.jsonl",
        f"--output_file={d}/p.jsonl",
    )
    with open(f"{d}/p.jsonl") as f:
        records = [json.loads(line) for line in f]
    assert [r["text"] for r in records] == ["good film", "bad"]
    assert all(r["label"] in ("yes", "no") for r in records)
    # A label the model never saw, at prediction time.
    tt.write(d, "unseen.csv", "text,label\ngood,maybe\n")
    proc = _run(
        "predict",
        f"--model_dir={out}",
        f"--input_file={d}/unseen.csv",
        f"--output_file={d}/q.jsonl",
        ok=False,
    )
    assert "unseen.csv:2: label 'maybe' was not seen in training" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["--train_file={d}/missing.csv"], "data file not found: '{d}/missing.csv'"),
        (
            ["--train_file={d}/train.csv", "--label_column=y"],
            "train.csv:1 (header): no label column 'y'",
        ),
        (
            ["--train_file={d}/train.csv", "--do_lower_case=false"],
            "vocab.txt: lower_case=False, but the vocabulary is uncased",
        ),
    ],
)
def test_clear_errors(workdir, args, message):
    d = workdir
    args = [a.format(d=d) for a in args]
    proc = _run("finetune", "--task=classify", f"--output_dir={d}/x", *_init(d), *args, ok=False)
    assert message.format(d=d) in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "flag,message",
    [
        ("--learning_rate=-1", "learning_rate must be > 0, got -1.0"),
        ("--train_batch_size=0", "train_batch_size must be >= 1, got 0"),
        ("--warmup_proportion=1.5", "warmup_proportion must be in [0, 1], got 1.5"),
        ("--max_seq_length=1", "max_seq_length must be >= 2, got 1"),
    ],
)
def test_bad_setting_is_one_line(workdir, flag, message):
    """A FinetuneSettings value out of range: one error line, before any work."""
    d = workdir
    out = f"{d}/bad_setting"
    proc = _run(
        "finetune",
        "--task=classify",
        f"--train_file={d}/train.csv",
        f"--output_dir={out}",
        *_init(d),
        flag,
        ok=False,
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("bert_tf: error:")]
    assert errors == [f"bert_tf: error: {message}"], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(out)


# TF's C++ log lines, TF 2.20 ("2026-12-05 00:44:05.697248: I external/...cc:31] ...")
# and TF 2.21's Abseil ones ("I0000 00:00:1796434438.597753  22899 cudart_stub.cc:31] ...").
TF_CPP_LOG_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |[IWEF]\d{4} [\d:. ]+ \S+\.cc:\d+\] )", re.M
)


def test_entry_point_and_convert(workdir, tmp_path):
    d = workdir
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bert_tf",
            "finetune",
            "--task=ner",
            f"--train_file={d}/missing.conll",
            f"--output_dir={d}/y",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 1
    assert f"CoNLL file not found: '{d}/missing.conll'" in proc.stderr
    assert "Traceback" not in proc.stderr
    # A quiet start: none of TF's C++ lines (cuInit on a CPU machine, CPU
    # feature notes), however the machine is set up.
    assert not TF_CPP_LOG_LINE.search(proc.stderr), proc.stderr
    assert "cuInit" not in proc.stderr and "absl::InitializeLog" not in proc.stderr
    out = str(tmp_path / "hf")
    _run("convert", f"--input={d}/model/model.keras", "--output_format=hf", f"--output_dir={out}")
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors", "vocab.txt"]
    _run("convert", f"--input={out}", "--output_format=google", f"--output_dir={tmp_path}/g")
    assert os.path.exists(f"{tmp_path}/g/bert_config.json")
    proc = _run(
        "convert", f"--input={d}/nope", "--output_format=hf", f"--output_dir={tmp_path}/z", ok=False
    )
    assert "not a checkpoint folder" in proc.stderr


def test_squad_finetune_and_predict(workdir):
    d = workdir
    context = "John lives in Paris . The dog was born in London ."
    data = {
        "data": [
            {
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "a",
                                "question": "where does john live?",
                                "is_impossible": False,
                                "answers": [{"text": "Paris", "answer_start": 14}],
                            },
                            {
                                "id": "b",
                                "question": "who is acme?",
                                "is_impossible": True,
                                "answers": [],
                            },
                        ],
                    }
                ]
            }
        ]
    }
    tt.write(d, "squad.json", json.dumps(data))
    out = os.path.join(d, "qa")
    proc = _run(
        "finetune",
        "--task=squad",
        f"--train_file={d}/squad.json",
        f"--eval_file={d}/squad.json",
        f"--output_dir={out}",
        "--version_2_with_negative",
        "--max_seq_length=16",
        "--doc_stride=4",
        "--max_query_length=6",
        "--num_train_epochs=1",
        *_init(d),
    )
    # The span labeler does not use the pooler: it is not trained, and Keras
    # has no reason to warn that its variables get no gradients.
    assert "Gradients do not exist" not in proc.stderr
    results = json.load(open(os.path.join(out, "eval_results.json")))
    assert results["total"] == 2 and "HasAns_f1" in results
    with open(os.path.join(out, "eval_predictions.jsonl")) as f:
        records = [json.loads(line) for line in f]
    assert [r["id"] for r in records] == ["a", "b"]
    assert all("null_score_diff" in r for r in records)


def test_tf_logs_flag_and_user_setting(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    assert cli.quiet_tensorflow(["--task=ner"])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    assert not cli.quiet_tensorflow(["--tf_logs"])
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # The user's choice stands.
    assert not cli.quiet_tensorflow([])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
