"""Reading, writing and checking WordPiece vocabularies (`vocab.txt`)."""

import re
from collections.abc import Sequence

import tensorflow as tf

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)

_ASCII_UPPER = re.compile("[A-Z]")
_ASCII_LOWER = re.compile("[a-z]")


def is_special_token(token: str) -> bool:
    """`[CLS]`, `[unused7]` and the like: bracketed, never produced from text."""
    return len(token) > 2 and token.startswith("[") and token.endswith("]")


def load_vocabulary(path: str) -> list[str]:
    """Reads a `vocab.txt`: one token per line, the line number is the id.

    Args:
      path: a local or `tf.io.gfile` path.

    Returns:
      The tokens, stripped of surrounding whitespace as the original BERT does.

    Raises:
      FileNotFoundError: naming `path`.
      ValueError: naming the file and line of an empty or duplicate token.
    """
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"vocabulary file not found: {path}")
    with tf.io.gfile.GFile(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 at byte {e.start}") from e
    tokens = [line.strip() for line in text.split("\n")]
    if tokens and tokens[-1] == "" and text.endswith("\n"):
        tokens.pop()
    check_vocabulary(tokens, source=path)
    return tokens


def check_vocabulary(tokens: Sequence[str], source: str = "vocabulary") -> None:
    """Rejects empty, blank or duplicate tokens, naming the line."""
    if not tokens:
        raise ValueError(f"{source}: the vocabulary is empty")
    seen = {}
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            raise TypeError(f"{source}: token {i} is {type(token).__name__}, not str")
        if not token or token != token.strip():
            raise ValueError(
                f"{source}: line {i + 1} holds an empty or whitespace-padded token {token!r}"
            )
        if token in seen:
            raise ValueError(
                f"{source}: token {token!r} appears on lines {seen[token] + 1} and {i + 1}"
            )
        seen[token] = i


def save_vocabulary(tokens: Sequence[str], path: str) -> str:
    """Writes `tokens` as a `vocab.txt` and returns `path`."""
    check_vocabulary(tokens, source=path)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("".join(t + "\n" for t in tokens))
    return path


def check_casing(tokens: Sequence[str], lower_case: bool, source: str = "vocabulary") -> None:
    """Raises if the vocabulary's casing contradicts `lower_case`.

    An uncased tokenizer never produces a token with an upper-case letter, so a
    vocabulary holding such tokens is cased; a cased tokenizer with a vocabulary
    that has no upper-case ASCII letter at all would turn every capitalised word
    into pieces or `[UNK]`. Bracketed special tokens are ignored.

    Raises:
      ValueError: naming the vocabulary, the casing and example tokens.
    """
    words = [t for t in tokens if not is_special_token(t)]
    upper = [t for t in words if _ASCII_UPPER.search(t)]
    if lower_case and upper:
        raise ValueError(
            f"{source}: lower_case=True, but the vocabulary is cased: {len(upper)} "
            f"tokens hold upper-case letters (e.g. {upper[:3]}), which an uncased "
            "tokenizer can never produce. Use lower_case=False with this "
            "vocabulary."
        )
    if not lower_case and not upper and any(_ASCII_LOWER.search(t) for t in words):
        raise ValueError(
            f"{source}: lower_case=False, but the vocabulary is uncased: no token "
            "holds an upper-case letter, so capitalised words would become "
            "[UNK] or split oddly. Use lower_case=True with this vocabulary."
        )


def as_token_list(vocabulary: str | Sequence[str]) -> list[str]:
    """A vocabulary given as a `vocab.txt` path or as a list of tokens."""
    if isinstance(vocabulary, (str, bytes)):
        path = vocabulary.decode() if isinstance(vocabulary, bytes) else vocabulary
        return load_vocabulary(path)
    tokens = list(vocabulary)
    check_vocabulary(tokens)
    return tokens
