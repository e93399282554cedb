"""The quickstart's small BERT: its vocabulary, its config, its pre-training.

- `learn_vocab`: an uncased WordPiece vocabulary learned from the
  pre-training text.
- `small_bert_config`: the `BertConfig` of a 2-layer, hidden-128 BERT
  (`SMALL_BERT`).
- `pretrain`: masked LM (80/10/10 replacement, dynamic masks) and
  next-sentence prediction through `bert_tf.training.pretrain.run_pretraining`,
  resuming an interrupted run with the same settings.
- `random_encoder`: the same model with random weights (no pre-training).
"""

import dataclasses
import json
import os
import shutil

import keras
from absl import logging

from bert_tf.config import BertConfig
from bert_tf.encoder import BertEncoder
from bert_tf.text import BertTokenizer, learn_vocabulary, save_vocabulary
from bert_tf.training import pretrain as pretrain_lib

# The small BERT pre-trained here (BERT's `bert_config.json` fields).
SMALL_BERT = dict(
    hidden_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=512,
)
# The settings of the last `pretrain` in a folder: a run with others starts over.
_SETTINGS_FILE = "quickstart_settings.json"


def learn_vocab(corpus_file: str, vocab_size: int, vocab_file: str) -> BertTokenizer:
    """Learns an uncased WordPiece vocabulary from the pre-training text.

    Args:
      corpus_file: text, one sentence a line (blank lines are skipped).
      vocab_size: the most tokens the vocabulary may hold.
      vocab_file: the `vocab.txt` to write.

    Returns:
      An uncased `BertTokenizer` on the vocabulary.
    """
    with open(corpus_file, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    vocab_file = save_vocabulary(learn_vocabulary(lines, vocab_size, lower_case=True), vocab_file)
    logging.info("vocabulary written to %s", vocab_file)
    return BertTokenizer(vocab_file, lower_case=True)


def small_bert_config(vocab_size: int, max_seq_length: int, **overrides) -> BertConfig:
    """The `BertConfig` of the quickstart's small BERT (`SMALL_BERT`).

    Args:
      vocab_size: the vocabulary's size.
      max_seq_length: packed length (positions: at least 128).
      **overrides: other `BertConfig` fields, or `SMALL_BERT`'s replaced.

    Returns:
      The config.

    Example:
    >>> config = small_bert_config(4000, 64)
    >>> config.hidden_size, config.num_hidden_layers, config.max_position_embeddings
    (128, 2, 128)
    """
    fields = dict(SMALL_BERT, vocab_size=vocab_size)
    fields["max_position_embeddings"] = max(128, max_seq_length)
    fields.update(overrides)
    return BertConfig(**fields)


def random_encoder(config: BertConfig, seed: int = 0) -> BertEncoder:
    """A randomly initialised encoder (`--init=random`: no pre-training).

    Args:
      config: the model's `BertConfig`.
      seed: the Keras random seed of the initial weights.

    Returns:
      The `BertEncoder`.
    """
    keras.utils.set_random_seed(seed)
    return BertEncoder.from_bert_config(config)


def pretrain(
    corpus_file: str,
    vocab_file: str,
    output_dir: str,
    config: BertConfig,
    num_train_steps: int,
    train_batch_size: int = 32,
    max_seq_length: int = 64,
    learning_rate: float = 1e-3,
    do_whole_word_mask: bool = False,
    seed: int = 0,
    verbose: int | str = "auto",
) -> tuple[BertEncoder, dict]:
    """Pre-trains with `bert_tf.training.pretrain.run_pretraining`.

    Masked LM (15% of the tokens, 80% `[MASK]` / 10% random / 10% kept,
    new masks every pass) and next-sentence prediction, from raw text in the
    graph; checkpoints in `output_dir/checkpoints`, the final weights as a
    Google TF1 and a Hugging Face checkpoint in `output_dir/export`.

    A run with the same settings resumes from `output_dir`'s checkpoints (an
    interrupted quickstart continues; a finished one is not redone); with
    other settings `output_dir` is cleared first, since its checkpoints
    would not fit the new model.

    Args:
      corpus_file: text in the "sentences" format
        (`stdlib_task.write_pretraining_corpus`).
      vocab_file: the vocabulary.
      output_dir: the pre-training folder.
      config: the model's `BertConfig`.
      num_train_steps: training steps (batches).
      train_batch_size: batch size.
      max_seq_length: packed length; 15% of it (rounded up) is the most
        masked-LM predictions per sequence, Google's ratio.
      learning_rate: peak learning rate (10% of the steps warm up).
      do_whole_word_mask: mask all pieces of a word together.
      seed: seed of the initial weights, the masks and the data order.
      verbose: `Model.fit` verbosity (a progress bar per checkpoint interval
        by default).

    Returns:
      `(encoder, history)`: the pre-trained `BertEncoder` and the
      `Model.fit` history dict (empty when nothing was left to train).
    """
    # Google's ratio: 20 predictions for 128 tokens at 15%.
    max_predictions = max(1, int(round(max_seq_length * 0.15 + 0.5)))
    settings = {
        "config": dataclasses.asdict(config),
        "corpus_bytes": os.path.getsize(corpus_file),
        "vocab_bytes": os.path.getsize(vocab_file),
        "num_train_steps": num_train_steps,
        "train_batch_size": train_batch_size,
        "max_seq_length": max_seq_length,
        "learning_rate": learning_rate,
        "do_whole_word_mask": do_whole_word_mask,
        "seed": seed,
    }
    settings_file = os.path.join(output_dir, _SETTINGS_FILE)
    previous = None
    if os.path.isfile(settings_file):
        with open(settings_file, encoding="utf-8") as f:
            previous = json.load(f)
    if previous != settings and os.path.isdir(output_dir):
        # The quickstart's own folder, from a run with other settings.
        logging.info("pre-training settings changed: clearing %s", output_dir)
        shutil.rmtree(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    with open(settings_file, "w", encoding="utf-8") as f:
        json.dump(settings, f, indent=2)
    model, result = pretrain_lib.run_pretraining(
        corpus_file,
        output_dir,
        vocab_file,
        config,
        do_lower_case=True,
        input_format="sentences",
        max_seq_length=max_seq_length,
        max_predictions_per_seq=max_predictions,
        do_whole_word_mask=do_whole_word_mask,
        train_batch_size=train_batch_size,
        learning_rate=learning_rate,
        num_train_steps=num_train_steps,
        num_warmup_steps=num_train_steps // 10,
        save_checkpoints_steps=max(1, -(-num_train_steps // 4)),
        seed=seed,
        verbose=verbose,
    )
    history = result.history.history if result.history else {}
    return model.encoder, history
