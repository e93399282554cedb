"""The quickstart: its task (split by module), its pre-training corpus and
pre-training through the project's pipeline (`bert_tf.recipes`), and the
command end to end."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import tasks_testing as tt
import tensorflow as tf

from bert_tf.data import pretraining as data_lib
from bert_tf.data import stdlib_corpus
from bert_tf.encoder import BertEncoder
from bert_tf.recipes import quickstart, small_bert, stdlib_task

TINY = dict(
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


def test_task_is_split_by_module():
    docs = stdlib_corpus.docstrings()
    packages, train, dev, test, other = stdlib_task.make_task(docs, 4)
    assert len(packages) == 4
    assert {r["label"] for r in train} == set(packages)
    assert {r["label"] for r in test} == set(packages)
    train_modules = {r["module"] for r in train}
    dev_modules = {r["module"] for r in dev}
    assert train_modules.isdisjoint(dev_modules)
    assert (train_modules | dev_modules).isdisjoint({r["module"] for r in test})
    assert all(r["module"].split(".")[0] == r["label"] for r in train + test)
    assert 0.1 < len(test) / (len(train) + len(dev) + len(test)) < 0.5
    assert len(other) + len(train) + len(dev) + len(test) == len(docs)
    # Deterministic: the same interpreter gives the same task.
    assert stdlib_task.make_task(docs, 4)[3] == test


def _docs():
    D = stdlib_corpus.Docstring
    return [
        D("pkg.a", "pkg", "", "The dog ran.\n\nThe fox jumped over it."),
        D("pkg.b", "pkg", "f", "John lives in Paris."),
        D("pkg.a", "pkg", "g", "A good film.\nVery good."),
        D("pkg.c", "pkg", "", "Held out: never pre-trained on."),
    ]


def test_pretraining_corpus_is_read_by_the_pipeline(tmp_path):
    path = str(tmp_path / "corpus" / "corpus.txt")
    info = stdlib_task.write_pretraining_corpus(_docs(), path, exclude_modules=["pkg.c"])
    assert info == {"path": path, "documents": 2, "lines": 5}
    # The pipeline's own reader sees one document per module, a sentence per
    # non-empty docstring line, in source order.
    docs = data_lib.read_documents(path, "sentences", shuffle=False)
    got = [[s.decode() for s in d["sentences"]] for d in docs.as_numpy_iterator()]
    assert got == [
        [
            "The dog ran.",
            "The fox jumped over it.",
            "A good film.",
            "Very good.",
        ],
        ["John lives in Paris."],
    ]
    assert "Held out" not in open(path).read()


def test_build_task_writes_its_splits(tmp_path):
    docs = [
        stdlib_corpus.Docstring(f"{p}.m{i}", p, f"f{j}", f"Doc {j} of {p}.m{i}.")
        for p in ("json", "email")
        for i in range(5)
        for j in range(4)
    ]
    task = stdlib_task.build_task(2, output_dir=str(tmp_path), docs=docs)
    assert task.packages == ["email", "json"]
    assert task.test_modules == sorted({r["module"] for r in task.test})
    for split in stdlib_task.SPLITS:
        rows = [json.loads(line) for line in open(task.files[split], encoding="utf-8")]
        assert rows == getattr(task, split)
        data = task.data(split)
        assert data.source == task.files[split]
        assert data.labels == [r["label"] for r in rows]
    corpus = task.write_corpus(str(tmp_path / "corpus.txt"))
    assert corpus["documents"] == 10 - len(task.test_modules)


def _encoder_weights(encoder):
    return [w.copy() for w in encoder.get_weights()]


def test_pretrain_runs_the_project_pipeline_and_resumes(tmp_path):
    vocab_file = tt.write_vocab(str(tmp_path))
    text = (
        "the quick brown fox jumped over the lazy dog.\n"
        "john lives in paris.\nthe dog was born in london.\n\n"
        "a good film.\nthe movie was very bad.\nwhat a great film.\n\n"
    ) * 4
    corpus = tt.write(str(tmp_path), "corpus.txt", text)
    config = small_bert.small_bert_config(len(tt.VOCAB), 16, **TINY)
    out = str(tmp_path / "pretraining")
    kwargs = dict(train_batch_size=4, max_seq_length=16, learning_rate=1e-2, seed=1)
    encoder, history = small_bert.pretrain(corpus, vocab_file, out, config, 4, verbose=0, **kwargs)
    # Both pre-training losses were trained, through run_pretraining's
    # checkpoints and exports.
    assert len(history["mlm_logits_loss"]) == 4
    assert np.all(np.isfinite(history["nsp_logits_loss"]))
    assert tf.train.latest_checkpoint(os.path.join(out, "checkpoints"))
    assert os.path.isfile(os.path.join(out, "export", "huggingface", "model.safetensors"))
    trained = _encoder_weights(encoder)
    # run_pretraining seeds the initial weights with `seed`: the same seed
    # here gives the untrained encoder, which training moved away from.
    keras.utils.set_random_seed(1)
    initial = BertEncoder.from_bert_config(config)
    assert not np.allclose(
        encoder.word_embeddings.embeddings.numpy(),
        initial.word_embeddings.embeddings.numpy(),
    )
    # The same settings again: nothing left to train, the same weights.
    again, history = small_bert.pretrain(corpus, vocab_file, out, config, 4, verbose=0, **kwargs)
    assert history == {}
    for a, b in zip(trained, _encoder_weights(again)):
        np.testing.assert_array_equal(a, b)
    # Other settings: the old checkpoints are cleared, training starts over.
    _, history = small_bert.pretrain(corpus, vocab_file, out, config, 2, verbose=0, **kwargs)
    assert len(history["mlm_logits_loss"]) == 2
    with open(os.path.join(out, "quickstart_settings.json")) as f:
        assert json.load(f)["num_train_steps"] == 2


# The command on a slice of the standard library, with tiny settings.
_RUN = """
import sys
from bert_tf import cli
from bert_tf.data import stdlib_corpus
from bert_tf.encoder import BertEncoder
docs = stdlib_corpus.docstrings()
stdlib_corpus.docstrings = lambda root=None: docs[::10]
cli.run(["bert_tf"] + sys.argv[1:])
"""


def test_quickstart_command_end_to_end(tmp_path):
    out = tmp_path / "qs"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1")
    args = [
        "--output_dir=" + str(out),
        "--num_packages=3",
        "--vocab_size=600",
        "--pretrain_steps=4",
        "--num_train_epochs=1",
        "--train_batch_size=16",
        "--max_seq_length=32",
    ]
    proc = subprocess.run(
        [sys.executable, "-c", _RUN] + args,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout
    for stage in range(1, 8):
        assert f"{stage}/7 " in log
    assert "masked-LM accuracy" in log and "TF-IDF + logistic" in log
    results = json.loads((out / "results.json").read_text())
    assert 0.0 <= results["test_accuracy"] <= 1.0
    assert len(results["packages"]) == 3
    for path in (
        "pretraining/export/huggingface/model.safetensors",
        "classifier/model.keras",
        "savedmodels/quickstart/1/saved_model.pb",
        "test_predictions.jsonl",
    ):
        assert (out / path).is_file(), path
        assert path.split("/")[0] in log
    # The SavedModel's labels (tokenization in its graph) equal the Keras
    # model's on the same held-out docstrings.
    test = [json.loads(line) for line in (out / "test.jsonl").open()]
    keras_preds = [json.loads(line)["label"] for line in (out / "test_predictions.jsonl").open()]
    served = quickstart.predict_savedmodel(
        str(out / "savedmodels/quickstart/1"), [r["text"] for r in test]
    )
    assert [label for label, _ in served] == keras_preds
    shown = [line for line in log.splitlines() if line.startswith("  [ok]")]
    shown += [line for line in log.splitlines() if line.startswith("  [xx]")]
    assert 1 <= len(shown) <= 5
