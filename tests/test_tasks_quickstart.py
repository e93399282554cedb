"""The quickstart's task (split by module) and its masked-LM pre-training."""

import numpy as np

import tasks_testing as tt
from bert_tf.cli import quickstart
from bert_tf.data import stdlib_corpus


def test_task_is_split_by_module():
    docs = stdlib_corpus.docstrings()
    packages, train, dev, test, other = quickstart.make_task(docs, 4)
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
    assert quickstart.make_task(docs, 4)[3] == test


def test_pretrain_mlm_updates_the_encoder(tmp_path):
    encoder = tt.tiny_encoder()
    tokenizer = tt.tokenizer(str(tmp_path))
    before = encoder.word_embeddings.embeddings.numpy().copy()
    texts = ["the quick brown fox jumped over the lazy dog",
             "john lives in paris", "a good film", "the dog was born"] * 4
    losses = quickstart.pretrain_mlm(encoder, tokenizer, texts, steps=4,
                                     batch_size=4, seq_length=16, verbose=0)
    assert len(losses) == 4 and np.all(np.isfinite(losses))
    assert not np.allclose(before, encoder.word_embeddings.embeddings.numpy())
