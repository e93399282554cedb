"""Shared fixtures of the pre-training tests: a real-text corpus and a vocab.

The corpus is the standard library's docstrings (`bert_tf.data.stdlib_corpus`)
split into sentences; the vocabulary covers its frequent words plus every
character as a word start and as a `##` piece, so nothing becomes `[UNK]` and
words split into several pieces (which whole-word masking needs).
"""

import collections
import gzip
import os
import re
from collections.abc import Sequence

from bert_tf.data import stdlib_corpus

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def corpus_documents(num_docs: int, min_sentences: int = 2, skip: int = 0) -> list[list[str]]:
    """Docstrings with >= `min_sentences` sentences, one string per sentence."""
    docs = []
    for doc in stdlib_corpus.docstrings()[skip:]:
        text = " ".join(doc.text.split())
        sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
        if len(sentences) >= min_sentences:
            docs.append(sentences)
        if len(docs) == num_docs:
            break
    return docs


def write_corpus(
    folder: str, docs: Sequence[Sequence[str]], num_files: int = 2, gzip_last: bool = True
) -> list[str]:
    """Writes documents in the original format, spread over files."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for f in range(num_files):
        part = docs[f::num_files]
        text = "\n\n".join("\n".join(d) for d in part) + "\n"
        if gzip_last and f == num_files - 1 and num_files > 1:
            path = os.path.join(folder, f"part-{f}.txt.gz")
            with gzip.open(path, "wt", encoding="utf-8") as out:
                out.write(text)
        else:
            path = os.path.join(folder, f"part-{f}.txt")
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
        paths.append(path)
    return paths


def make_vocab(docs: Sequence[Sequence[str]], num_words: int = 300) -> list[str]:
    """Special tokens, frequent words, and every character as start / piece."""
    counts = collections.Counter()
    chars = set()
    for doc in docs:
        for sentence in doc:
            words = _WORD.findall(sentence.lower())
            counts.update(w for w in words if len(w) > 1)
            for w in words:
                chars.update(w)
    chars = sorted(c for c in chars if not c.isspace())
    words = [w for w, _ in counts.most_common(num_words)]
    return (
        SPECIAL
        + chars
        + ["##" + c for c in chars if c.isalnum()]
        + [w for w in words if w not in chars]
    )
