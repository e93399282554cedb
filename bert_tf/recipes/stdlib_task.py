"""A real task on data every Python has: which package a docstring belongs to.

The standard library's docstrings (`bert_tf.data.stdlib_corpus`) make a
classification task over the packages with the most docstrings, split by
module: the test modules are never seen, not in fine-tuning and not in
pre-training. The same interpreter always gives the same task.

- `make_task`: the classes and the train / dev / test splits.
- `build_task`: the same as a `StdlibTask`, its splits written as JSON lines.
- `write_pretraining_corpus`: the docstrings as pre-training text, one
  document per module (the "sentences" format of `bert_tf.data.pretraining`).
- `majority_baseline`: the accuracy of always answering the commonest class.
"""

import collections
import dataclasses
import os
import zlib
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from bert_tf.data import stdlib_corpus
from bert_tf.tasks import classification, common

SPLITS = ("train", "dev", "test")


def _split_modules(
    modules: Mapping[str, int], fraction: float, skip: Collection[str] = frozenset()
) -> set:
    """Modules held out (about `fraction` of the docstrings), in a fixed order.

    Args:
      modules: module name -> number of docstrings, of one package.
      fraction: share of the package's docstrings to hold out.
      skip: modules already held out for something else.

    Returns:
      The held-out module names. No module holding more than 40% of its
      package's docstrings is held out.
    """
    total = sum(modules.values())
    held, count = set(), 0
    for module in sorted(modules, key=lambda m: zlib.crc32(m.encode())):
        if count >= fraction * total:
            break
        if module not in skip and count + modules[module] <= 0.4 * total:
            held.add(module)  # No module takes most of its package's examples.
            count += modules[module]
    return held


def make_task(docs: Sequence[stdlib_corpus.Docstring], num_packages: int, seed: int = 0):
    """The package-of-a-docstring task: `(packages, train, dev, test, other)`.

    Classes are the `num_packages` packages with the most docstrings among
    those with at least 4 modules (so a split by module is possible). Test
    modules hold about 20% of each package's docstrings, validation modules
    about 10%, both chosen in a fixed order. `other` is the text of the
    packages not in the task (used for pre-training).

    Args:
      docs: `bert_tf.data.stdlib_corpus.Docstring`s.
      num_packages: number of classes.
      seed: seed of the fixed shuffle of the training split.

    Returns:
      `(packages, train, dev, test, other)`: each split a list of
      `{"text", "label", "module"}`, `other` a list of strings.

    Example:
    >>> from bert_tf.data.stdlib_corpus import Docstring
    >>> docs = [  # csv has too few modules to be split by module.
    ...     Docstring(f"{p}.m{i}", p, f"f{j}", f"Doc {j} of {p}.m{i}.")
    ...     for p, n in (("json", 5), ("email", 5), ("csv", 2))
    ...     for i in range(n)
    ...     for j in range(4)
    ... ]
    >>> packages, train, dev, test, other = make_task(docs, 3)
    >>> packages
    ['email', 'json']
    >>> len(train), len(dev), len(test), len(other)
    (24, 8, 8, 8)
    >>> sorted({r["module"] for r in test})
    ['email.m2', 'json.m0']
    """
    by_package = collections.defaultdict(collections.Counter)
    for d in docs:
        by_package[d.package][d.module] += 1
    eligible = [
        p
        for p, m in by_package.items()
        if len(m) >= 4 and p != "encodings"  # Codec boilerplate.
    ]
    packages = sorted(eligible, key=lambda p: -sum(by_package[p].values()))
    packages = sorted(packages[:num_packages])
    held_test, held_dev = set(), set()
    for p in packages:
        test_modules = _split_modules(by_package[p], 0.2)
        held_test |= test_modules
        held_dev |= _split_modules(by_package[p], 0.1, skip=test_modules)
    train, dev, test, other = [], [], [], []
    for d in docs:
        record = {"text": d.text, "label": d.package, "module": d.module}
        if d.package not in packages:
            other.append(d.text)
        elif d.module in held_test:
            test.append(record)
        elif d.module in held_dev:
            dev.append(record)
        else:
            train.append(record)
    # A fixed shuffle, so batches mix packages.
    order = np.random.default_rng(seed).permutation(len(train))
    return packages, [train[i] for i in order], dev, test, other


def classification_data(rows: Sequence[Mapping], source: str) -> classification.ClassificationData:
    """Task rows as `ClassificationData` for `bert_tf.tasks.classification`.

    Args:
      rows: `{"text", "label", ...}` records (a split of `make_task`).
      source: the name errors and predictions give the data (a file name).

    Returns:
      One single-text example per row; its "line" is the row's 1-based index.

    Example:
    >>> data = classification_data([{"text": "Parse JSON.", "label": "json"}], "dev")
    >>> data.texts, data.labels, data.lines
    ([('Parse JSON.',)], ['json'], [1])
    """
    return classification.ClassificationData(
        [(r["text"],) for r in rows],
        [r["label"] for r in rows],
        list(range(1, len(rows) + 1)),
        source,
    )


@dataclasses.dataclass
class StdlibTask:
    """The package-of-a-docstring task of one interpreter.

    Attributes:
      packages: the classes (package names), sorted.
      train: training rows, `{"text", "label", "module"}`, in a fixed shuffle.
      dev: validation rows (modules of their own).
      test: held-out rows (modules of their own, never pre-trained on).
      docs: every docstring the task was made from.
      python_version: the interpreter whose standard library this is.
      files: split name -> the JSON lines file it was written to.
    """

    packages: list[str]
    train: list[dict]
    dev: list[dict]
    test: list[dict]
    docs: list[stdlib_corpus.Docstring]
    python_version: str
    files: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def test_modules(self) -> list[str]:
        """The held-out test modules, sorted."""
        return sorted({r["module"] for r in self.test})

    def data(self, split: str) -> classification.ClassificationData:
        """One split (`"train"`, `"dev"` or `"test"`) as `ClassificationData`."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        return classification_data(getattr(self, split), self.files.get(split, split))

    def write_corpus(self, path: str) -> dict:
        """Writes the pre-training text: every module's docstrings but the test ones.

        Args:
          path: the text file to write (`write_pretraining_corpus`).

        Returns:
          `{"path", "documents", "lines"}`.
        """
        return write_pretraining_corpus(self.docs, path, exclude_modules=self.test_modules)


def build_task(
    num_packages: int,
    seed: int = 0,
    output_dir: str | None = None,
    docs: Sequence[stdlib_corpus.Docstring] | None = None,
) -> StdlibTask:
    """Makes the task (`make_task`) and writes its splits as JSON lines.

    Args:
      num_packages: number of classes.
      seed: seed of the fixed shuffle of the training split.
      output_dir: where `train.jsonl`, `dev.jsonl` and `test.jsonl` go (the
        folder is created); None writes nothing.
      docs: the docstrings; None reads the running Python's standard library
        (`stdlib_corpus.docstrings()`).

    Returns:
      The `StdlibTask`, with `files` naming what was written.
    """
    docs = list(stdlib_corpus.docstrings() if docs is None else docs)
    packages, train, dev, test, _ = make_task(docs, num_packages, seed)
    task = StdlibTask(packages, train, dev, test, docs, stdlib_corpus.python_version_tag())
    if output_dir is not None:
        os.makedirs(output_dir, exist_ok=True)
        for split in SPLITS:
            path = os.path.join(output_dir, f"{split}.jsonl")
            common.write_jsonl(path, getattr(task, split))
            task.files[split] = path
    return task


def write_pretraining_corpus(
    docs: Sequence[stdlib_corpus.Docstring], path: str, exclude_modules: Sequence[str] = ()
) -> dict:
    """Writes the docstrings as pre-training text in the "sentences" format.

    One document per module (its docstrings in source order, so next-sentence
    pairs stay within a module), one non-empty docstring line per "sentence"
    line, a blank line between documents: the input format of
    google-research/bert's `create_pretraining_data.py` and of
    `bert_tf.data.pretraining`.

    Args:
      docs: `bert_tf.data.stdlib_corpus.Docstring`s.
      path: the text file to write (its folder is created).
      exclude_modules: modules left out (the held-out test modules).

    Returns:
      `{"path", "documents", "lines"}`.

    Example:
    >>> from bert_tf.data.stdlib_corpus import Docstring
    >>> docs = [
    ...     Docstring("a.x", "a", "", "First line.\\n\\nSecond line."),
    ...     Docstring("a.y", "a", "f", "Held out."),
    ... ]
    >>> write_pretraining_corpus(docs, "corpus.txt", exclude_modules=["a.y"])
    {'path': 'corpus.txt', 'documents': 1, 'lines': 2}
    >>> print(open("corpus.txt").read())
    First line.
    Second line.
    <BLANKLINE>
    """
    exclude = set(exclude_modules)
    modules = collections.OrderedDict()
    for d in docs:
        if d.module in exclude:
            continue
        modules.setdefault(d.module, []).extend(
            line.strip() for line in d.text.splitlines() if line.strip()
        )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    documents = lines = 0
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for sentences in modules.values():
            if sentences:
                f.write("\n".join(sentences) + "\n\n")
                documents += 1
                lines += len(sentences)
    os.replace(tmp, path)
    return {"path": path, "documents": documents, "lines": lines}


def majority_baseline(train: Sequence[Mapping], test: Sequence[Mapping]) -> tuple[str, float]:
    """The commonest training label, and its accuracy on `test`.

    Args:
      train: rows with a `"label"`.
      test: rows with a `"label"`.

    Returns:
      `(label, accuracy)`.

    Example:
    >>> rows = [{"label": "json"}, {"label": "json"}, {"label": "csv"}]
    >>> majority_baseline(rows, rows[1:])
    ('json', 0.5)
    """
    label = collections.Counter(r["label"] for r in train).most_common(1)[0][0]
    return label, float(np.mean([r["label"] == label for r in test]))
