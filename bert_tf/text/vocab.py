"""Learning a WordPiece vocabulary from text.

The learning itself is TF-Text's WordPiece learner (what its
`bert_vocab_from_dataset` runs). Text is first put
through the same normalization as `BertTokenizer` (the original BERT's, see
`bert_tf.text.normalizer`), so the words counted are exactly the words the
tokenizer will later split; TF-Text's own splitter then only splits them.
"""

from collections.abc import Iterable, Sequence

import tensorflow as tf
import tensorflow_text as tf_text

# TF-Text's vocabulary tool and the splitter it uses (public TF-Text modules).
from tensorflow_text.python.ops import bert_tokenizer as tf_text_bert
from tensorflow_text.tools.wordpiece_vocab import (
    wordpiece_tokenizer_learner_lib as learner,
)

from bert_tf.text import normalizer, vocab_io


def reserved_tokens(num_unused_tokens: int = 99) -> list[str]:
    """BERT's reserved tokens, in BERT's order.

    With the default 99 unused slots the ids are those of Google's English
    vocabularies: `[PAD]`=0, `[unused0..98]`=1..99, `[UNK]`=100, `[CLS]`=101,
    `[SEP]`=102, `[MASK]`=103.
    """
    if num_unused_tokens < 0:
        raise ValueError(f"num_unused_tokens must be >= 0, got {num_unused_tokens}")
    return (
        [vocab_io.PAD]
        + [f"[unused{i}]" for i in range(num_unused_tokens)]
        + [vocab_io.UNK, vocab_io.CLS, vocab_io.SEP, vocab_io.MASK]
    )


def expand_input_files(patterns: str | Sequence[str]) -> list[str]:
    """Expands comma-separated globs into a sorted list of existing files.

    Raises:
      FileNotFoundError: naming a pattern that matches nothing.
    """
    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",") if p.strip()]
    files = []
    for pattern in patterns:
        pattern = pattern.strip()
        matched = (
            sorted(tf.io.gfile.glob(pattern))
            if any(c in pattern for c in "*?[")
            else ([pattern] if tf.io.gfile.exists(pattern) else [])
        )
        if not matched:
            raise FileNotFoundError(f"no input file matches {pattern!r}")
        files.extend(matched)
    return files


def text_file_dataset(files: Sequence[str]) -> tf.data.Dataset:
    """Lines of text files (`.gz` files are read as gzip), empty lines dropped."""
    datasets = [
        tf.data.TextLineDataset(f, compression_type="GZIP" if f.endswith(".gz") else None)
        for f in files
    ]
    ds = datasets[0]
    for other in datasets[1:]:
        ds = ds.concatenate(other)
    return ds.filter(lambda line: tf.strings.length(tf.strings.strip(line)) > 0)


def learn_vocabulary(
    texts: tf.data.Dataset | Iterable[str],
    vocab_size: int,
    lower_case: bool,
    num_unused_tokens: int = 99,
    max_token_length: int = 50,
    max_unique_chars: int = 1000,
    lower_thresh: int = 2,
    batch_size: int = 1024,
) -> list[str]:
    """Learns a WordPiece vocabulary for `BertTokenizer`.

    Args:
      texts: a `tf.data.Dataset` of scalar strings, or an iterable of strings.
      vocab_size: the requested size, reserved tokens included. The result can
        be smaller when the text has fewer distinct pieces.
      lower_case: learn an uncased vocabulary (lower-case, strip accents) or a
        cased one.
      num_unused_tokens: `[unusedN]` slots after `[PAD]` (see
        `reserved_tokens`).
      max_token_length: longest piece, in characters.
      max_unique_chars: most distinct single characters kept.
      lower_thresh: least count of a piece (lower bound of the learner's binary
        search); lower it for tiny corpora.
      batch_size: strings normalized per step.

    Returns:
      The tokens, reserved ones first.

    Example:
    >>> vocab = learn_vocabulary(["the quick brown fox"] * 20, vocab_size=120,
    ...                          lower_case=True, num_unused_tokens=0)
    >>> vocab[:5]
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    """
    reserved = reserved_tokens(num_unused_tokens)
    if vocab_size <= len(reserved):
        raise ValueError(
            f"vocab_size={vocab_size} leaves no room beside the {len(reserved)} reserved tokens"
        )
    if not isinstance(texts, tf.data.Dataset):
        texts = list(texts)
        if not texts:
            raise ValueError("no text to learn a vocabulary from")
        texts = tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string))
    if texts.element_spec.dtype != tf.string or texts.element_spec.shape.rank:
        raise TypeError(f"texts must be a dataset of scalar strings, got {texts.element_spec}")
    norm = tf_text.FastBertNormalizer(model_buffer=normalizer.build_normalizer_model(lower_case))
    # Text is normalized already: TF-Text's basic tokenizer only splits it.
    splitter = tf_text_bert.BasicTokenizer(lower_case=False, normalization_form=None)
    words = texts.batch(batch_size).map(lambda t: splitter.tokenize(norm.normalize(t)))
    word_counts = learner.count_words(words.prefetch(2))
    learn_params = dict(
        max_token_length=max_token_length,
        max_unique_chars=max_unique_chars,
        lower_thresh=lower_thresh,
    )
    # The learner adds every single character on top of its target: shrink the
    # target until the result fits the requested size.
    target = vocab_size
    for _ in range(4):
        vocab = learner.learn(word_counts, target, reserved, **learn_params)
        if len(vocab) <= vocab_size or target <= len(reserved) + 1:
            break
        target = max(len(reserved) + 1, target - (len(vocab) - vocab_size))
    vocab = vocab[:vocab_size]
    if len(vocab) <= len(reserved):
        raise ValueError("the text produced no tokens to learn from")
    return vocab


def learn_vocabulary_from_files(
    input_files: str | Sequence[str],
    output_file: str | None,
    vocab_size: int,
    lower_case: bool,
    **kwargs,
) -> list[str]:
    """`learn_vocabulary` over text files, optionally written as `vocab.txt`.

    Args:
      input_files: globs (a comma-separated string or a list); `.gz` is gzip.
      output_file: where to write `vocab.txt`, or None.
      vocab_size: as in `learn_vocabulary`.
      lower_case: as in `learn_vocabulary`.
      **kwargs: passed to `learn_vocabulary`.

    Returns:
      The tokens.
    """
    files = expand_input_files(input_files)
    vocab = learn_vocabulary(text_file_dataset(files), vocab_size, lower_case, **kwargs)
    if output_file:
        vocab_io.save_vocabulary(vocab, output_file)
    return vocab
