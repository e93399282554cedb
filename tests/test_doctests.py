"""The examples in bert_tf's docstrings run, as written, in CI.

Each module's `>>>` examples are one test (keras-hub runs its docstrings the
same way); a stale example fails here by module and line.
"""

import doctest
import importlib
import pkgutil

import pytest

import bert_tf

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _has_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return any(t.examples for t in finder.find(module))


MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(bert_tf.__path__, prefix="bert_tf.")
    if _has_examples(info.name)
)


def test_examples_are_found():
    assert "bert_tf.encoder" in MODULES and len(MODULES) > 20


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Examples that write files write them here.
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in finder.find(module):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
