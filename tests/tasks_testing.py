"""Tiny vocabularies, encoders and data files for the fine-tuning tests."""

import json
import os
import random

import numpy as np

from bert_tf.encoder import BertEncoder
from bert_tf.tasks import classification
from bert_tf.text import BertTokenizer, save_vocabulary

WORDS = [
    "the",
    "a",
    "good",
    "bad",
    "film",
    "movie",
    "was",
    "is",
    "very",
    "not",
    "john",
    "smith",
    "lives",
    "in",
    "paris",
    "london",
    "works",
    "at",
    "acme",
    "corp",
    "who",
    "where",
    "what",
    "when",
    "did",
    "does",
    "born",
    "city",
    "of",
    "and",
    "to",
    "went",
    "##s",
    "##ed",
    "##ing",
    "(",
    ")",
    ",",
    ".",
    "'",
    "?",
    "1990",
    "19",
    "##90",
    "new",
    "york",
    "france",
    "capital",
    "jump",
    "fox",
    "dog",
    "over",
    "lazy",
    "quick",
    "brown",
    "great",
    "awful",
    "x",
    "y",
    "z",
    "b",
    "c",
    "d",
    "e",
    "s",
]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS


POSITIVE = ["good", "great"]
NEGATIVE = ["bad", "awful"]
FILLER = [
    "the", "a", "film", "movie", "was", "is", "very", "john", "smith",
    "lives", "in", "paris", "london", "works", "at", "acme", "corp", "new",
    "york", "quick", "brown", "fox", "dog", "lazy", "city", "of", "and",
]  # fmt: skip


def make_texts(count, seed):
    """Filler sentences with one sentiment word; label 1 if positive.

    A separable task (the sentiment word decides), so tiny models learn it and
    their exports are judged on real decisions, not near-ties."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(count):
        label = rng.randrange(2)
        words = rng.choices(FILLER, k=rng.randint(2, 9))
        word = rng.choice(POSITIVE if label else NEGATIVE)
        words.insert(rng.randint(0, len(words)), word)
        if rng.random() < 0.3:
            words[0] = words[0].capitalize()
        texts.append(" ".join(words) + rng.choice(["", ".", " !", "?"]))
        labels.append(label)
    return texts, np.array(labels)


def write_vocab(directory: str) -> str:
    """Writes the tiny uncased vocab.txt and returns its path."""
    return save_vocabulary(VOCAB, os.path.join(directory, "vocab.txt"))


def tokenizer(directory: str) -> BertTokenizer:
    return BertTokenizer(write_vocab(directory), lower_case=True)


def tiny_encoder(max_positions: int = 64, vocab_size: int = len(VOCAB)) -> BertEncoder:
    return BertEncoder(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=max_positions,
    )


def write_tiny_config(directory: str) -> str:
    path = os.path.join(directory, "bert_config.json")
    with open(path, "w") as f:
        json.dump(
            {
                "vocab_size": len(VOCAB),
                "hidden_size": 16,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "intermediate_size": 32,
                "max_position_embeddings": 64,
            },
            f,
        )
    return path


def write(directory: str, name: str, text: str) -> str:
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def make_classifier(
    directory,
    seq_length: int = 16,
    rows: int = 16,
    sentences=("good great film", "bad awful movie"),
    **settings,
) -> str:
    """A classifier fine-tuned on a CSV it writes (row i: `sentences[i % n]`,
    positive for even i); its folder. `settings`: `FinetuneSettings` fields
    (default: one epoch at learning rate 1e-3, batch 8)."""
    d = str(directory)
    lines = ["text,label"] + [
        f"{sentences[i % len(sentences)]},{['pos', 'neg'][i % 2]}" for i in range(rows)
    ]
    write(d, "train.csv", "\n".join(lines) + "\n")
    train = classification.read_classification_file(os.path.join(d, "train.csv"), ["text"], "label")
    out = os.path.join(d, "sst")
    settings = {"train_batch_size": 8, "num_train_epochs": 1, "learning_rate": 1e-3, **settings}
    classification.finetune_classifier(
        train,
        tiny_encoder(),
        tokenizer(d),
        os.path.join(d, "vocab.txt"),
        out,
        max_seq_length=seq_length,
        text_columns=["text"],
        verbose=0,
        **settings,
    )
    return out
