"""Token classification (NER) from CoNLL files.

Data: one token per line (`token [extra columns] tag`, TAB- or
space-separated; the first column is the token, the last the tag), a blank
line between sentences, `-DOCSTART-` lines skipped. IOB1 and IOB2 are
accepted; tags are converted to IOB2 (the conversion is the identity on
IOB2).

Alignment (in tf.data, through the tokenizer's offsets): a sentence's words
are joined with single spaces and tokenized once with
`BertTokenizer.tokenize_with_offsets`; each word-piece belongs to the word
whose byte span holds its start offset. The first piece of a word carries the
word's tag, the other pieces get -1 (ignored by the loss); predictions are read
at each word's first piece, so they map back to words (a word cut off by
`max_seq_length` is predicted `O`).

Metrics: entity-level precision / recall / F1 with the chunking rules of
conlleval, as `seqeval`'s default mode computes them.

Example:

>>> iob1_to_iob2(["I-PER", "I-PER", "B-PER", "O", "I-LOC"])
['B-PER', 'I-PER', 'B-PER', 'O', 'B-LOC']
>>> get_entities(["B-PER", "I-PER", "O", "I-LOC"])
[('PER', 0, 1), ('LOC', 3, 3)]
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from bert_tf.heads import BertTokenClassifier
from bert_tf.tasks import common
from bert_tf.tasks.ner_metrics import entity_metrics, get_entities
from bert_tf.text.tokenizer import BertTokenizer

__all__ = [
    "NerData",
    "align_words",
    "entity_metrics",
    "evaluate_ner",
    "finetune_ner",
    "get_entities",
    "iob1_to_iob2",
    "make_dataset",
    "predict_ner",
    "read_conll",
    "tag_list",
]

TASK_NAME = "ner"
IGNORE = -1  # Label of word-pieces that are not the first of their word.
_TAG = re.compile(r"^(O|[BI]-\S+)$")


@dataclasses.dataclass
class NerData:
    """Sentences read from a CoNLL file.

    Attributes:
        words: list of sentences, each a list of tokens.
        tags: the IOB2 tags, same shape, or None (a file without tags).
        lines: the file line of every token, same shape.
        source: the file name.
    """

    words: list
    tags: list | None
    lines: list
    source: str = ""


def iob1_to_iob2(tags: Sequence[str]) -> list:
    """IOB1 (or IOB2) tags as IOB2: an `I-X` that starts a chunk becomes `B-X`."""
    out = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def read_conll(path: str, require_tags: bool = True) -> NerData:
    """Reads a CoNLL file (see the module docstring).

    Args:
        path: the file.
        require_tags: raise on a line without a tag column; with False, a
            file whose lines all hold one column is read without tags.

    Raises:
        FileNotFoundError: naming the file.
        ValueError: naming the file, line and column of a malformed line or a
            tag that is neither `O` nor `B-`/`I-` typed.
    """
    common.check_file(path, "CoNLL file")
    words, tags, lines = [], [], []
    sentence, sentence_tags, sentence_lines = [], [], []
    has_tags = None

    def flush():
        if sentence:
            words.append(list(sentence))
            tags.append(iob1_to_iob2(sentence_tags) if has_tags else None)
            lines.append(list(sentence_lines))
        sentence.clear(), sentence_tags.clear(), sentence_lines.clear()

    with open(path, encoding="utf-8") as f:
        try:
            for number, raw in enumerate(f, start=1):
                line = raw.rstrip("\r\n")
                if not line.strip():
                    flush()
                    continue
                columns = line.split("\t") if "\t" in line else line.split()
                columns = [c.strip() for c in columns]
                if columns[0] == "-DOCSTART-":
                    flush()
                    continue
                line_has_tag = len(columns) >= 2
                if has_tags is None:
                    has_tags = line_has_tag or require_tags
                if has_tags and not line_has_tag:
                    raise ValueError(
                        f"{path}:{number}: malformed CoNLL line: expected "
                        f"'token [columns] tag', got one column {line!r}"
                    )
                if not has_tags and line_has_tag:
                    raise ValueError(
                        f"{path}:{number}: {len(columns)} columns, but the "
                        "file's first line had no tag column"
                    )
                if not columns[0]:
                    raise ValueError(f"{path}:{number}: column 1: empty token")
                if has_tags:
                    tag = columns[-1]
                    if not _TAG.match(tag):
                        raise ValueError(
                            f"{path}:{number}: column {len(columns)}: tag "
                            f"{tag!r} is not O, B-<type> or I-<type> "
                            "(IOB1/IOB2)"
                        )
                    sentence_tags.append(tag)
                sentence.append(columns[0])
                sentence_lines.append(number)
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not UTF-8 text ({e})") from None
    flush()
    if not words:
        raise ValueError(f"{path}: no sentences")
    return NerData(words, tags if has_tags else None, lines, path)


def tag_list(data: NerData) -> list:
    """`O` first, then the other tags sorted by type, B before I."""
    tags = {t for sentence in data.tags for t in sentence} | {"O"}
    return ["O"] + sorted(tags - {"O"}, key=lambda t: (t[2:], t[0]))


def encode_tags(data: NerData, tags: Sequence[str]) -> list:
    """Tag ids per sentence; an unseen tag raises, naming the file and line."""
    index = {t: i for i, t in enumerate(tags)}
    out = []
    for sentence, lines in zip(data.tags, data.lines):
        ids = []
        for tag, line in zip(sentence, lines):
            if tag not in index:
                raise ValueError(
                    f"{data.source}:{line}: tag {tag!r} was not seen in "
                    f"training; the model knows {', '.join(tags)}"
                )
            ids.append(index[tag])
        out.append(ids)
    return out


def align_words(
    tokenizer: BertTokenizer, words: tf.Tensor, tag_ids: tf.Tensor, seq_length: int
) -> dict:
    """Packs one sentence's words and aligns word tags to word-pieces (graph).

    Args:
        tokenizer: the `BertTokenizer`.
        words: [W] `tf.string` tokens.
        tag_ids: [W] int32 tag ids (any values when predicting).
        seq_length: S.

    Returns:
        A dict of [S] int32 `input_word_ids`, `input_mask`, `input_type_ids`,
        `labels` (the tag at each word's first piece, -1 elsewhere) and [W]
        int32 `word_positions` (position of each word's first piece, -1 if
        the word has no piece within S).
    """
    special = tokenizer.special_token_ids()
    words = tf.convert_to_tensor(words, tf.string)
    num_words = tf.shape(words)[0]
    text = tf.strings.reduce_join(words, separator=" ")
    word_starts = tf.cumsum(tf.strings.length(words) + 1, exclusive=True)  # [W] byte offsets.
    ids, starts, _ = tokenizer.tokenize_with_offsets(text)  # [T] each
    word_of_token = tf.searchsorted(word_starts, tf.cast(starts, tf.int32), side="right") - 1  # [T]
    is_first = tf.concat(
        [tf.ones([1], tf.bool)[: tf.size(ids)], word_of_token[1:] != word_of_token[:-1]], axis=0
    )  # [T]
    labels = tf.where(is_first, tf.gather(tag_ids, word_of_token), IGNORE)
    budget = seq_length - 2
    ids, labels = ids[:budget], labels[:budget]
    n = tf.shape(ids)[0]
    pad = seq_length - n - 2
    word_ids = tf.concat(
        [
            [special["start_of_sequence_id"]],
            ids,
            [special["end_of_segment_id"]],
            tf.fill([pad], special["padding_id"]),
        ],
        axis=0,
    )
    labels = tf.concat([[IGNORE], labels, tf.fill([pad + 1], IGNORE)], axis=0)
    mask = tf.concat([tf.ones([n + 2], tf.int32), tf.zeros([pad], tf.int32)], axis=0)
    first_token = tf.math.unsorted_segment_min(
        tf.range(tf.size(word_of_token)), word_of_token, num_words
    )  # [W]
    positions = tf.where(first_token < budget, first_token + 1, -1)
    return {
        "input_word_ids": tf.ensure_shape(word_ids, [seq_length]),
        "input_mask": tf.ensure_shape(mask, [seq_length]),
        "input_type_ids": tf.zeros([seq_length], tf.int32),
        "labels": tf.ensure_shape(tf.cast(labels, tf.int32), [seq_length]),
        "word_positions": positions,
    }


def make_dataset(
    tokenizer: BertTokenizer,
    words: Sequence[Sequence[str]],
    tag_ids: Sequence[Sequence[int]] | None,
    seq_length: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Batches of aligned features (see `align_words`), word-pieces in graph."""
    if tag_ids is None:
        tag_ids = [[0] * len(s) for s in words]
    ds = tf.data.Dataset.from_tensor_slices(
        (tf.ragged.constant(words, dtype=tf.string), tf.ragged.constant(tag_ids, dtype=tf.int32))
    )
    ds = ds.map(
        lambda w, t: align_words(tokenizer, w, t, seq_length), num_parallel_calls=tf.data.AUTOTUNE
    ).cache()
    if shuffle:
        ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    return ds.padded_batch(
        batch_size,
        padding_values={
            "input_word_ids": 0,
            "input_mask": 0,
            "input_type_ids": 0,
            "labels": IGNORE,
            "word_positions": -1,
        },
    ).prefetch(tf.data.AUTOTUNE)


def _inputs_only(features):
    return {k: features[k] for k in ("input_word_ids", "input_mask", "input_type_ids")}


def _with_targets(features):
    labels = features["labels"]
    weights = tf.cast(labels != IGNORE, tf.float32)
    return _inputs_only(features), tf.maximum(labels, 0), weights


def predict_tags(model: keras.Model, dataset: tf.data.Dataset, tags: Sequence[str]) -> list:
    """Word-level tags predicted from the first piece of every word."""
    out = []
    for features in dataset:
        logits = model(_inputs_only(features), training=False)  # [B, S, C]
        pred = tf.argmax(logits, axis=-1).numpy()  # [B, S]
        positions = features["word_positions"].numpy()  # [B, W]
        for row, pos in zip(pred, positions):
            out.append([tags[row[p]] if p >= 0 else "O" for p in pos])
    return out


def _trim(predicted: list, words: list) -> list:
    # padded_batch pads word_positions with -1 too: cut each to its sentence.
    return [p[: len(w)] for p, w in zip(predicted, words)]


def score_model(model, tokenizer, data, tags, seq_length, batch_size):
    """Entity metrics of `model` on labelled `data`, and its word-level tags."""
    ds = make_dataset(tokenizer, data.words, None, seq_length, batch_size)
    predicted = _trim(predict_tags(model, ds, tags), data.words)
    return entity_metrics(data.tags, predicted), predicted


def finetune_ner(
    train: NerData,
    encoder,
    tokenizer: BertTokenizer,
    vocab_file: str,
    output_dir: str,
    eval_data: NerData | None = None,
    settings: common.FinetuneSettings | None = None,
    verbose: int | str = "auto",
    **overrides: Any,
) -> dict:
    """Fine-tunes a `BertTokenClassifier` with `Model.fit` on CoNLL words.

    The epoch with the best entity F1 on `eval_data` is kept. The folder
    written to `output_dir` holds `model.keras`, `vocab.txt` and `task.json`
    (tags and settings).

    Args:
        train: the training sentences (with tags).
        encoder, tokenizer, vocab_file: the model to start from.
        output_dir: where the model folder is written.
        eval_data: validation sentences (with tags), or None.
        settings: the `FinetuneSettings` (default: its defaults).
        verbose: `Model.fit` verbosity.
        **overrides: `FinetuneSettings` fields replacing those of `settings`.

    Returns:
        A dict: `output_dir`, `best_epoch`, `eval` metrics, `history`.
    """
    s = common.finetune_settings("finetune_ner", settings, overrides)
    keras.utils.set_random_seed(s.seed)
    if train.tags is None:
        raise ValueError(f"{train.source}: no tags to train on")
    tags = tag_list(train)
    train_ds = make_dataset(
        tokenizer,
        train.words,
        encode_tags(train, tags),
        s.max_seq_length,
        s.train_batch_size,
        shuffle=True,
        seed=s.seed,
    ).map(_with_targets)
    model = BertTokenClassifier(encoder, num_classes=len(tags), dropout=s.dropout)
    model.compile(
        optimizer=common.optimizer_for(s, len(train.words)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=bool(s.jit_compile),
    )
    best = None
    if eval_data is not None:
        if eval_data.tags is None:
            raise ValueError(f"{eval_data.source}: no tags to validate on")
        encode_tags(eval_data, tags)  # Unseen tags raise before training.
        best = common.best_checkpoint(
            output_dir,
            lambda m: score_model(
                m, tokenizer, eval_data, tags, s.max_seq_length, s.eval_batch_size
            )[0],
            "f1",
        )
    info = {
        "task": TASK_NAME,
        "labels": tags,
        "max_seq_length": int(s.max_seq_length),
        "do_lower_case": bool(tokenizer.lower_case),
    }
    return common.fit_and_save(
        model, train_ds, s.num_train_epochs, output_dir, vocab_file, info, verbose, best, _summary
    )


def _summary(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "types"} | {
        "types": {t: dict(v) for t, v in metrics["types"].items()}
    }


def evaluate_ner(model_dir: str, data: NerData, batch_size: int = 64) -> dict:
    """Entity precision / recall / F1 of a fine-tuned model folder."""
    task = common.load_task(model_dir, TASK_NAME)
    if data.tags is None:
        raise ValueError(f"{data.source}: no tags to evaluate against")
    encode_tags(data, task.info["labels"])  # Names unseen tags and lines.
    metrics, _ = score_model(
        task.model,
        task.tokenizer,
        data,
        task.info["labels"],
        task.info["max_seq_length"],
        batch_size,
    )
    return metrics


def predict_ner(
    model_dir: str, data: NerData, output_file: str | None = None, batch_size: int = 64
) -> list:
    """Word-level tags and entities per sentence, optionally to JSON lines.

    Each record: `line` (of the first token), `words`, `tags`, `entities`
    (`{"type", "start", "end", "text"}`, `end` inclusive), and `gold` tags
    when the file has them.
    """
    task = common.load_task(model_dir, TASK_NAME)
    if data.tags is not None:
        encode_tags(data, task.info["labels"])  # Names unseen tags.
    ds = make_dataset(task.tokenizer, data.words, None, task.info["max_seq_length"], batch_size)
    predicted = _trim(predict_tags(task.model, ds, task.info["labels"]), data.words)
    records = []
    for i, (words, tags) in enumerate(zip(data.words, predicted)):
        record = {
            "line": data.lines[i][0],
            "words": words,
            "tags": tags,
            "entities": [
                {"type": t, "start": s, "end": e, "text": " ".join(words[s : e + 1])}
                for t, s, e in get_entities(tags)
            ],
        }
        if data.tags is not None:
            record["gold"] = data.tags[i]
        records.append(record)
    return common.predictions_to(output_file, records)
