"""End-to-end tests of `bert_tf pretrain` and `run_pretraining`.

- bad inputs give errors that name the file, flag or value;
- a run killed with SIGKILL mid-training and started again with the same
  command continues from its last checkpoint;
- two `multi_worker_mirrored` workers on localhost end with identical
  weights, equal to a single-worker run with the same global batch.

Subprocesses run with timeouts and loopback ports only.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import modes_testing
import numpy as np
import pretrain_testing
import pytest
import tensorflow as tf

from bert_tf import files as files_lib
from bert_tf.config import BertConfig
from bert_tf.training import pretrain

TIMEOUT = 240
TINY = dict(
    vocab_size=400,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=32,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrain_cli")
    docs = pretrain_testing.corpus_documents(60)
    corpus = pretrain_testing.write_corpus(str(folder / "corpus"), docs, num_files=1)[0]
    vocab = pretrain_testing.make_vocab(docs, num_words=200)
    assert len(vocab) <= TINY["vocab_size"]
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n")
    config_file = folder / "bert_config.json"
    config_file.write_text(json.dumps(TINY))
    return {
        "folder": folder,
        "corpus": corpus,
        "vocab": str(vocab_file),
        "config": str(config_file),
    }


def _args(files, output_dir, **overrides):
    flags = dict(
        input_file=files["corpus"],
        vocab_file=files["vocab"],
        bert_config_file=files["config"],
        output_dir=output_dir,
        max_seq_length=32,
        max_predictions_per_seq=4,
        train_batch_size=8,
        learning_rate=1e-3,
        num_train_steps=150,
        num_warmup_steps=10,
        save_checkpoints_steps=10,
        seed=3,
        verbosity=0,
    )
    flags.update(overrides)
    return [sys.executable, "-m", "bert_tf", "pretrain"] + [f"--{k}={v}" for k, v in flags.items()]


# -- errors ------------------------------------------------------------------


def _run_kwargs(files, tmp_path):
    return dict(
        input_file=files["corpus"],
        output_dir=str(tmp_path / "out"),
        vocab_file=files["vocab"],
        bert_config=BertConfig(**TINY),
        max_seq_length=32,
        max_predictions_per_seq=4,
        num_train_steps=2,
        num_warmup_steps=0,
        verbose=0,
    )


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"input_file": "/nonexistent/corpus-*.txt"}, FileNotFoundError, "corpus-"),
        ({"max_seq_length": 64}, ValueError, "max_position_embeddings=32"),
        ({"bert_config": "no_such_preset"}, FileNotFoundError, "no_such_preset"),
        ({"vocab_file": "/nonexistent/vocab.txt"}, FileNotFoundError, "vocab.txt"),
        ({"init_checkpoint": "/nonexistent/ckpt"}, FileNotFoundError, "init_checkpoint"),
    ],
)
def test_bad_inputs_name_the_problem(files, tmp_path, change, error, message):
    kwargs = _run_kwargs(files, tmp_path)
    kwargs.update(change)
    with pytest.raises(error, match=message):
        pretrain.run_pretraining(**kwargs)
    assert not (tmp_path / "out").exists()


def test_empty_corpus_and_vocab_without_special_tokens(files, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n   \n")
    kwargs = _run_kwargs(files, tmp_path)
    with pytest.raises(ValueError, match="empty"):
        pretrain.run_pretraining(**{**kwargs, "input_file": str(empty)})
    vocab = tmp_path / "vocab.txt"
    tokens = open(files["vocab"]).read().split()
    vocab.write_text("\n".join(t for t in tokens if t != "[MASK]") + "\n")
    with pytest.raises(ValueError, match=r"vocab.txt.*\[MASK\]"):
        pretrain.run_pretraining(**{**kwargs, "vocab_file": str(vocab)})
    assert not (tmp_path / "out").exists()


def test_cli_reports_a_missing_file(files, tmp_path):
    proc = subprocess.run(
        _args(files, str(tmp_path / "out"), input_file="/nonexistent/x*.txt"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=ENV,
    )
    assert proc.returncode != 0
    assert "no input file matches '/nonexistent/x*.txt'" in proc.stderr


# -- SIGKILL and resume --------------------------------------------------------


def test_killed_run_resumes_from_its_last_checkpoint(files, tmp_path):
    out = tmp_path / "run"
    ckpt_dir = out / "checkpoints"
    command = _args(files, str(out))
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV)
    deadline = time.time() + TIMEOUT
    try:
        # Wait for a committed checkpoint: the `checkpoint` state file names
        # it only after its .index and .data files are complete (a kill
        # between the two rightly leaves nothing to resume from).
        while time.time() < deadline and proc.poll() is None:
            if ckpt_dir.exists() and tf.train.latest_checkpoint(str(ckpt_dir)):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    committed = tf.train.latest_checkpoint(str(ckpt_dir))
    steps = [int(re.search(r"ckpt-(\d+)$", committed).group(1))]
    assert steps and steps[-1] < 150
    assert not (out / "export").exists()  # it did not finish

    again = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=ENV)
    assert again.returncode == 0, again.stderr[-3000:]
    match = re.search(r"pretrain: steps (\d+) -> (\d+) \(this run: (\d+)\)", again.stderr)
    assert match, again.stderr[-3000:]
    start, end, ran = map(int, match.groups())
    # It continued from the newest checkpoint on disk at restart (the killed
    # run may have written more after our first look), not from zero.
    assert start >= steps[-1] > 0 and start % 10 == 0
    assert (end, ran) == (150, 150 - start)
    assert re.search(rf"Restored .*ckpt-{start}", again.stderr)
    assert (out / "export" / "google" / "bert_model.ckpt.index").exists()
    assert (out / "export" / "huggingface" / "model.safetensors").exists()
    assert os.listdir(out / "logs")  # TensorBoard
    # The exports are for others to read: the modes the umask gives.
    assert modes_testing.wrong_modes(out / "export", files_lib.current_umask()) == []


# -- two workers ---------------------------------------------------------------

# Gradient clipping is off here: Keras clips each replica's gradient before
# the cross-replica sum, so with an active clip the two runs legitimately
# differ (documented in docs_pretrain_section.md).
WORKER = r"""
import os, sys
import numpy as np
from bert_tf.config import BertConfig
from bert_tf.training import pretrain
corpus, vocab, out, strategy, config = sys.argv[1:6]
model, result = pretrain.run_pretraining(
    corpus, out, vocab, BertConfig.from_json_file(config),
    max_seq_length=32, max_predictions_per_seq=4, train_batch_size=8,
    learning_rate=1e-2, num_train_steps=4, num_warmup_steps=1,
    save_checkpoints_steps=2, global_clipnorm=None, strategy=strategy,
    export=False, verbose=0, seed=7)
np.savez(os.path.join(out, "weights.npz"), *model.get_weights())
print("FINAL_STEP", result.final_step)
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_match_one_worker(files, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(
            ENV,
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(script),
                    files["corpus"],
                    files["vocab"],
                    str(tmp_path / f"worker{index}"),
                    "multi_worker_mirrored",
                    files["config"],
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    # The single-worker reference runs meanwhile, same global batch (8).
    single = subprocess.run(
        [
            sys.executable,
            str(script),
            files["corpus"],
            files["vocab"],
            str(tmp_path / "single"),
            "default",
            files["config"],
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=TIMEOUT)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert single.returncode == 0, single.stderr[-3000:]
    for p, text in zip(procs, outputs):
        assert p.returncode == 0, text[-3000:]
        assert "FINAL_STEP 4" in text

    def load(name):
        return list(np.load(tmp_path / name / "weights.npz").values())

    w0, w1, ws = load("worker0"), load("worker1"), load("single")
    assert len(w0) == len(ws) > 10
    for a, b, c in zip(w0, w1, ws):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)
    # Only the chief keeps checkpoints.
    assert "ckpt-4.index" in os.listdir(tmp_path / "worker0" / "checkpoints")
    worker1 = tmp_path / "worker1" / "checkpoints"
    assert not worker1.exists() or not [n for n in os.listdir(worker1) if n.startswith("ckpt")]


# -- offline TFRecords ---------------------------------------------------------


def test_cli_writes_tfrecords_then_training_reads_them(files, tmp_path):
    prefix = tmp_path / "records" / "data"
    proc = subprocess.run(
        _args(files, "", write_tfrecords=str(prefix), dupe_factor=2, num_shards=2),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    shards = sorted(os.listdir(prefix.parent))
    assert shards == ["data-00000-of-00002.tfrecord", "data-00001-of-00002.tfrecord"]
    assert re.search(r"wrote \d+ examples to 2 file", proc.stderr)
    _, result = pretrain.run_pretraining(
        f"{prefix}-*",
        str(tmp_path / "out"),
        files["vocab"],
        BertConfig(**TINY),
        input_format="tfrecord",
        max_seq_length=32,
        max_predictions_per_seq=4,
        train_batch_size=8,
        num_train_steps=2,
        num_warmup_steps=0,
        save_checkpoints_steps=2,
        export=False,
        verbose=0,
    )
    assert result.final_step == 2
    assert np.isfinite(result.history.history["loss"]).all()
