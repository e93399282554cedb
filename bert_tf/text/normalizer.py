"""BERT's text normalization, compiled into TF-Text's `FastBertNormalize` op.

TF-Text's `FastBertNormalizer` maps every codepoint to a replacement string
through a double-array trie stored in a flatbuffer; its stock table comes from
ICU's NFKC_Casefold. That is close to, but not, the original BERT
(google-research/bert `tokenization.py`, kept verbatim in Model Garden as
`official.nlp.tools.tokenization`):

| input                 | original BERT             | stock FastBertNormalizer |
|-----------------------|---------------------------|--------------------------|
| `ß` (uncased)         | `ß` (`str.lower` keeps it) | `ss` (case folding)      |
| `´`, `¨`, `ﬁ` ...     | kept (NFD, not NFKD)      | compatibility-decomposed |
| NUL, `U+200B` (Cf) .. | removed                   | replaced by a space      |
| `U+2028`, `U+2029`    | split words (`str.split`) | kept inside the word     |
| invalid UTF-8 bytes   | dropped (`errors="ignore"`) | kept: the word → `[UNK]` |

This module computes the original algorithm's per-codepoint mapping (and maps
the byte sequences that are not UTF-8 to nothing) with
Python's own `str.lower` and `unicodedata` (so it agrees with the reference
tokenizer run by the same interpreter) and packs it into the flatbuffer format
that the `FastBertNormalize` op reads, in TF, in SavedModels and in TFLite
(TF-Text registers a TFLite kernel for it). Nothing about the op changes, so
the result is portable wherever TF-Text's ops are linked.

What a per-codepoint table cannot express is listed in
`KNOWN_DIFFERENCES`; the parity tests and benchmark measure each.
"""

import collections
import functools
import unicodedata
from collections.abc import Sequence

import flatbuffers
import numpy as np

KNOWN_DIFFERENCES = (
    "Final sigma: Python's str.lower() turns a word-final 'Σ' into 'ς' "
    "(context-dependent); the per-codepoint table always gives 'σ'.",
)

# Bit layout of a mapped value, from TF-Text's fast_bert_normalizer.h.
_DIFFERENT_MASK = 0x40000000
_LENGTH_BITS = 6
_MAX_MAPPED_BYTES = (1 << _LENGTH_BITS) - 1
_MAX_POOL_OFFSET = (1 << (32 - 2 - _LENGTH_BITS)) - 1

# Darts-clone unit layout (darts_clone_trie_wrapper.h).
_HAS_LEAF_BIT = 0x100
_VALUE_UNIT_BIT = 0x80000000
_MAX_DIRECT_OFFSET = 1 << 21


def _is_bert_control(char: str) -> bool:
    # google-research/bert `_is_control`: \t \n \r count as whitespace.
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def _is_bert_whitespace(char: str) -> bool:
    if char in " \t\n\r":
        return True
    return unicodedata.category(char) == "Zs"


def bert_normalize_char(char: str, lower_case: bool) -> str:
    """The original BERT's normalization of one codepoint.

    Args:
      char: a single codepoint.
      lower_case: whether the tokenizer is uncased (`do_lower_case`).

    Returns:
      `""` for a removed character, `" "` for whitespace (including the line and
      paragraph separators that `str.split` splits on), else the character after
      `str.lower`, NFD and removal of non-spacing marks (uncased) or unchanged
      (cased).

    Example:
    >>> bert_normalize_char("ß", lower_case=True), bert_normalize_char("É", True)
    ('ß', 'e')
    """
    cp = ord(char)
    if cp == 0 or cp == 0xFFFD or _is_bert_control(char):
        return ""
    # `whitespace_tokenize` uses `str.split()`, which also splits on Zl and Zp.
    if _is_bert_whitespace(char) or char in "\u2028\u2029":
        return " "
    if not lower_case:
        return char
    decomposed = unicodedata.normalize("NFD", char.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def _build_double_array(keys: Sequence[bytes], values: Sequence[int]) -> np.ndarray:
    """Builds a darts-clone double-array trie, as TF-Text's ops read it.

    A node at position `p` whose unit holds offset `o` has its child for byte
    `b` at `p ^ o ^ b` (that unit's low byte must equal `b`), and, if the node
    ends a key, a value unit at `p ^ o`. Bases `p ^ o` are unique per node.

    Args:
      keys: distinct non-empty byte strings without NUL bytes.
      values: a non-negative int32 value per key.

    Returns:
      The trie as a uint32 array.
    """
    root: dict = {}
    for key, value in zip(keys, values):
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value

    # A node's slots `base ^ label` (label < 256) all lie in the 256-unit block
    # of `base`, so placement is a search over blocks, vectorised per block.
    used = np.zeros((1, 256), bool)  # [blocks, 256]: slot taken.
    base_taken = np.zeros((1, 256), bool)  # [blocks, 256]: base taken.
    used[0, 0] = True  # The root.
    units = {0: 0}
    lows = np.arange(256)
    first_open = 0
    queue = collections.deque([(root, 0)])
    while queue:
        node, pos = queue.popleft()
        labels = sorted(k for k in node if k is not None)
        slots = np.array(([0] if None in node else []) + labels)
        # Only the last few blocks are searched: older ones are nearly full.
        block = max(first_open, used.shape[0] - 4)
        while True:
            if block == used.shape[0]:
                used = np.vstack([used, np.zeros((1, 256), bool)])
                base_taken = np.vstack([base_taken, np.zeros((1, 256), bool)])
            free = ~used[block][np.bitwise_xor.outer(lows, slots)].any(axis=1)
            free &= ~base_taken[block]
            if free.any():
                break
            block += 1
        base = (block << 8) | int(np.argmax(free))
        base_taken[block, base & 0xFF] = True
        used[block, (base ^ slots) & 0xFF] = True
        while first_open < used.shape[0] and used[first_open].all():
            first_open += 1
        offset = pos ^ base
        if offset >= _MAX_DIRECT_OFFSET:
            raise ValueError("normalizer trie grew past 2^21 units")
        units[pos] = units.get(pos, 0) | (offset << 10)
        if None in node:
            units[pos] |= _HAS_LEAF_BIT
            units[base] = node[None] | _VALUE_UNIT_BIT
        for label in labels:
            units[base ^ label] = label
            queue.append((node[label], base ^ label))
    array = np.zeros(max(units) + 1, np.uint32)
    array[list(units)] = list(units.values())
    return array


def _invalid_utf8_units() -> list[bytes]:
    """Lone bytes >= 0x80 and truncated multi-byte prefixes of UTF-8."""
    units = [bytes([b]) for b in range(0x80, 0x100)]
    cont = range(0x80, 0xC0)
    second = {
        0xE0: range(0xA0, 0xC0),
        0xED: range(0x80, 0xA0),
        0xF0: range(0x90, 0xC0),
        0xF4: range(0x80, 0x90),
    }
    for lead in range(0xE0, 0xF5):
        for b2 in second.get(lead, cont):
            units.append(bytes([lead, b2]))
            if lead >= 0xF0:
                units.extend(bytes([lead, b2, b3]) for b3 in cont)
    return units


def _pack_model(lower_case: bool, trie: np.ndarray, data_for_zero: int, pool: bytes) -> bytes:
    # Table FastBertNormalizerModel: lower_case_nfd_strip_accents:bool,
    # trie_array:[uint32], data_for_codepoint_zero:int32,
    # normalized_string_pool:[ubyte] (slots 0..3).
    builder = flatbuffers.Builder(len(pool) + 4 * len(trie) + 64)
    pool_vec = builder.CreateByteVector(pool or b" ")
    trie_vec = builder.CreateNumpyVector(trie.astype(np.uint32))
    builder.StartObject(4)
    builder.PrependUOffsetTRelativeSlot(3, pool_vec, 0)
    builder.PrependInt32Slot(2, data_for_zero, 0)
    builder.PrependUOffsetTRelativeSlot(1, trie_vec, 0)
    builder.PrependBoolSlot(0, lower_case, False)
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


@functools.lru_cache(maxsize=2)
def build_normalizer_model(lower_case: bool) -> bytes:
    """The `FastBertNormalize` model that reproduces the original BERT.

    Args:
      lower_case: uncased (lower-case, NFD, strip accents) or cased.

    Returns:
      A flatbuffer for `tensorflow_text.FastBertNormalizer(model_buffer=...)`.
    """
    keys: list[bytes] = []
    values: list[int] = []
    pool = bytearray()
    pool_offsets: dict[bytes, int] = {}
    data_for_zero = 0
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # Surrogates are not valid in UTF-8.
        char = chr(cp)
        if cp and unicodedata.category(char) == "Cn":
            continue  # Unassigned: BERT leaves it, and so does the op.
        mapped = bert_normalize_char(char, lower_case)
        if mapped == char:
            continue
        mapped_bytes = mapped.encode("utf-8")
        if len(mapped_bytes) > _MAX_MAPPED_BYTES:
            raise ValueError(f"U+{cp:04X} maps to {len(mapped_bytes)} bytes")
        data = _DIFFERENT_MASK
        if mapped_bytes:
            offset = pool_offsets.get(mapped_bytes)
            if offset is None:
                offset = pool_offsets[mapped_bytes] = len(pool)
                pool += mapped_bytes
            if offset > _MAX_POOL_OFFSET:
                raise ValueError("normalizer string pool overflow")
            data |= (offset << _LENGTH_BITS) | len(mapped_bytes)
        if cp == 0:
            data_for_zero = data
            continue
        keys.append(char.encode("utf-8"))
        values.append(data)
    # Invalid UTF-8: the op looks up what ICU's U8_FWD_1 consumes, i.e. a lone
    # byte or a truncated sequence (its maximal valid prefix). The original
    # decodes with errors="ignore", which drops exactly those: map them to "".
    for invalid in _invalid_utf8_units():
        keys.append(invalid)
        values.append(_DIFFERENT_MASK)
    trie = _build_double_array(keys, values)
    return _pack_model(lower_case, trie, data_for_zero, bytes(pool))
