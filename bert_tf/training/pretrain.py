"""BERT pre-training (masked LM + next-sentence prediction) with `Model.fit`.

`run_pretraining` checks its inputs, builds a `BertPretrainer` under the
chosen `tf.distribute` strategy and dtype policy, feeds it the in-graph
pipeline of `bert_tf.data.pretraining` (raw text, dynamic masking) or
pre-written TFRecord files, fits it with `fit_resumable` (checkpoints every
`save_checkpoints_steps`, resume after a kill, TensorBoard logs with the
learning rate, a progress bar), and exports the trained weights as a Google
TF1 checkpoint and a Hugging Face checkpoint.

`output_dir` layout: `checkpoints/` (step checkpoints), `logs/`
(TensorBoard), `export/google/` and `export/huggingface/` (final weights,
`bert_config.json` / `config.json` and `vocab.txt`).

Example (a tiny run; see `bert_tf pretrain --help` for the flags):

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> corpus = os.path.join(folder, "corpus.txt")
>>> with open(corpus, "w") as f:
...   _ = f.write("the cat sat.\\nthe dog ran.\\n\\na new story.\\nit ends.\\n")
>>> vocab = os.path.join(folder, "vocab.txt")
>>> with open(vocab, "w") as f:
...   _ = f.write("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
...       "the", "cat", "sat", "dog", "ran", "a", "new", "story", "it",
...       "ends", "."]) + "\\n")
>>> config = BertConfig(vocab_size=16, hidden_size=16, num_hidden_layers=1,
...                     num_attention_heads=2, intermediate_size=32,
...                     max_position_embeddings=16)
>>> model, result = run_pretraining(corpus, os.path.join(folder, "out"),
...     vocab, config, max_seq_length=16, max_predictions_per_seq=2,
...     train_batch_size=2, num_train_steps=4, num_warmup_steps=1,
...     save_checkpoints_steps=2,
...     verbose=0)
>>> result.final_step
4
>>> sorted(os.listdir(os.path.join(folder, "out", "export")))
['google', 'huggingface']
"""

import gzip
import os
from collections.abc import Sequence

import keras
import tensorflow as tf
from absl import logging

from bert_tf import checkpoints
from bert_tf.config import PRESETS, BertConfig
from bert_tf.data import pretraining as data_lib
from bert_tf.data import pretraining_tfrecords
from bert_tf.encoder import BertEncoder
from bert_tf.heads import BertPretrainer
from bert_tf.text import vocab_io
from bert_tf.text.tokenizer import BertTokenizer
from bert_tf.text.vocab import expand_input_files
from bert_tf.training import distribute
from bert_tf.training.loop import FitResult, fit_resumable
from bert_tf.training.losses import (
    MaskedSparseCategoricalAccuracy,
    MaskedSparseCategoricalCrossentropy,
)
from bert_tf.training.optimizer import create_optimizer

__all__ = [
    "INPUT_FORMATS",
    "resolve_bert_config",
    "check_corpus",
    "compile_pretrainer",
    "build_pretrainer",
    "load_pretraining_tokenizer",
    "run_pretraining",
]

# Raw text formats of `bert_tf.data.pretraining`, plus pre-written
# TFRecord files (`write_pretraining_tfrecords` or the original script).
INPUT_FORMATS = data_lib.INPUT_FORMATS + ("tfrecord",)
_PEEK_BYTES = 1 << 20


def resolve_bert_config(bert_config: BertConfig | str | None) -> BertConfig:
    """A `BertConfig` from itself, a preset name or a `bert_config.json`.

    Raises:
        FileNotFoundError: naming a path that is neither a file nor a
            preset.
    """
    if isinstance(bert_config, BertConfig):
        return bert_config
    if not bert_config:
        raise ValueError(
            "bert_config_file is required: a bert_config.json "
            f"path or a preset name ({', '.join(sorted(PRESETS))})"
        )
    if bert_config in PRESETS:
        return PRESETS[bert_config]
    if not tf.io.gfile.exists(bert_config):
        raise FileNotFoundError(
            f"bert_config_file {bert_config!r} is neither a file nor a preset name"
        )
    return BertConfig.from_json_file(bert_config)


def check_corpus(input_files: str | Sequence[str], input_format: str) -> list:
    """Expands the globs and checks that some file holds text.

    Only the first MiB of each file is read, so huge corpora are cheap to
    check.

    Returns:
        The file list.

    Raises:
        FileNotFoundError: naming a glob that matches nothing.
        ValueError: naming the files when all of them are empty.
    """
    files = expand_input_files(input_files)
    if input_format == "tfrecord":
        if all(tf.io.gfile.stat(f).length == 0 for f in files):
            raise ValueError(f"input_file {input_files!r}: every file is empty")
        return files
    for f in files:
        with tf.io.gfile.GFile(f, "rb") as raw:
            head = raw.read(_PEEK_BYTES)
        if f.endswith(".gz"):
            try:
                with gzip.open(tf.io.gfile.GFile(f, "rb")) as unzipped:
                    head = unzipped.read(_PEEK_BYTES)
            except OSError as e:
                raise ValueError(f"{f}: not a gzip file ({e})") from None
        if head.strip():
            return files
    raise ValueError(
        f"input_file {input_files!r}: the corpus is empty (no "
        f"text in {len(files)} file(s): {files[:3]})"
    )


def build_pretrainer(
    config: BertConfig, init_checkpoint: str | None = None, dtype=None
) -> BertPretrainer:
    """A `BertPretrainer` for `config`, optionally initialized from a
    Google TF1 checkpoint or a Hugging Face folder (encoder and, when
    present, pre-training heads)."""
    encoder = BertEncoder.from_bert_config(config, dtype=dtype)
    model = BertPretrainer(encoder)
    if init_checkpoint:
        path = init_checkpoint
        is_hf = tf.io.gfile.isdir(path) and tf.io.gfile.exists(
            os.path.join(path, "model.safetensors")
        )
        if not is_hf and not (tf.io.gfile.exists(path + ".index") or tf.io.gfile.isdir(path)):
            raise FileNotFoundError(
                f"init_checkpoint {path!r}: no TF1 checkpoint (.index) or "
                "Hugging Face folder (model.safetensors) there"
            )
        if is_hf:
            checkpoints.load_hf_checkpoint(path, model)
        else:
            checkpoints.load_google_checkpoint(path, model)
        logging.info("Initialized from %s", path)
    return model


def compile_pretrainer(
    model: BertPretrainer,
    optimizer: keras.optimizers.Optimizer,
    jit_compile: bool = False,
    steps_per_execution: int = 1,
) -> BertPretrainer:
    """Compiles with the masked-LM and next-sentence losses and metrics.

    Logs: `mlm_logits_loss` (mean cross-entropy over the masked positions
    of each example), `mlm_logits_accuracy` (over all masked positions),
    `nsp_logits_loss`, `nsp_logits_accuracy`, and their sum `loss`.
    """
    model.compile(
        optimizer=optimizer,
        loss={
            "mlm_logits": MaskedSparseCategoricalCrossentropy(from_logits=True),
            "nsp_logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        },
        metrics={
            "mlm_logits": [MaskedSparseCategoricalAccuracy(name="accuracy")],
            "nsp_logits": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        },
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model


def load_pretraining_tokenizer(
    vocab_file: str, do_lower_case: bool, config: BertConfig | None = None
) -> BertTokenizer:
    """A `BertTokenizer` for pre-training, with the vocabulary checked.

    Raises:
        FileNotFoundError: naming a missing `vocab_file`.
        ValueError: naming the file when it lacks `[PAD] [UNK] [CLS] [SEP]
            [MASK]` or holds more tokens than `config.vocab_size`.
    """
    tokens = vocab_io.load_vocabulary(vocab_file)
    missing = [t for t in vocab_io.SPECIAL_TOKENS if t not in tokens]
    if missing:
        raise ValueError(
            f"vocab_file {vocab_file}: lacks the special tokens {missing}, which pre-training needs"
        )
    if config is not None and len(tokens) > config.vocab_size:
        raise ValueError(
            f"vocab_file {vocab_file} has {len(tokens)} tokens but the model's "
            f"vocab_size is {config.vocab_size}"
        )
    return BertTokenizer(vocab_file, lower_case=do_lower_case)


def run_pretraining(
    input_file: str | Sequence[str],
    output_dir: str,
    vocab_file: str,
    bert_config: BertConfig | str,
    *,
    do_lower_case: bool = True,
    input_format: str = "sentences",
    init_checkpoint: str | None = None,
    max_seq_length: int = 128,
    max_predictions_per_seq: int = 20,
    masked_lm_prob: float = 0.15,
    short_seq_prob: float = 0.1,
    do_whole_word_mask: bool = False,
    train_batch_size: int = 32,
    learning_rate: float = 1e-4,
    num_train_steps: int = 100000,
    num_warmup_steps: int = 10000,
    save_checkpoints_steps: int = 1000,
    optimizer: str = "adamw",
    weight_decay: float = 0.01,
    lr_decay: str = "linear",
    global_clipnorm: float | None = 1.0,
    gradient_accumulation_steps: int | None = None,
    strategy: str | tf.distribute.Strategy = "default",
    mixed_precision: str | None = None,
    jit_compile: bool = False,
    steps_per_execution: int = 1,
    eval_input_file: str | Sequence[str] | None = None,
    eval_steps: int = 20,
    seed: int = 12345,
    export: bool = True,
    verbose="auto",
    force_mixed_precision: bool = False,
) -> tuple[BertPretrainer, FitResult]:
    """Pre-trains BERT; resumes from `output_dir/checkpoints` if present.

    Args:
        input_file: training data, comma-separated globs: raw text in
            `input_format`, or TFRecord files when `input_format` is
            "tfrecord".
        output_dir: where checkpoints, logs and exports go. Existing
            checkpoints are resumed from, never removed.
        vocab_file: `vocab.txt` with `[PAD] [UNK] [CLS] [SEP] [MASK]`.
        bert_config: a `BertConfig`, a preset name or a `bert_config.json`.
        do_lower_case: whether the vocabulary is uncased.
        input_format: "sentences", "paragraphs" or "tfrecord".
        init_checkpoint: optional Google TF1 checkpoint or Hugging Face
            folder to start from.
        max_seq_length, max_predictions_per_seq, masked_lm_prob,
        short_seq_prob, do_whole_word_mask: the data settings of
            `bert_tf.data.pretraining.pretraining_dataset`.
        train_batch_size: global batch size (split over replicas).
        learning_rate, num_train_steps, num_warmup_steps, optimizer,
        weight_decay, lr_decay, global_clipnorm,
        gradient_accumulation_steps: see
            `bert_tf.training.optimizer.create_optimizer`.
        save_checkpoints_steps: checkpoint (and evaluate) interval.
        strategy: a strategy or its name (`distribute.STRATEGIES`).
        mixed_precision: None, "mixed_float16" or "mixed_bfloat16" (float32
            where bfloat16 is emulated: `distribute.set_mixed_precision`).
        force_mixed_precision: keep "mixed_bfloat16" where it is emulated.
        jit_compile: compile the train step with XLA.
        steps_per_execution: batches per `tf.function` call.
        eval_input_file: held-out raw text (same format) evaluated at every
            checkpoint on `eval_steps` fixed batches.
        eval_steps: batches of held-out data per evaluation.
        seed: seed of the data pipeline and of the initial weights.
        export: write `export/google` and `export/huggingface` at the end.
        verbose: `Model.fit` verbosity.

    Returns:
        `(model, FitResult)`.

    Raises:
        FileNotFoundError, ValueError: naming the bad file, flag or value,
            before anything is built or written.
    """
    # A multi-worker strategy must exist before any TF op runs.
    if isinstance(strategy, str):
        strategy = distribute.get_strategy(strategy)
    # -- check everything before touching output_dir ----------------------
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input_format must be one of {INPUT_FORMATS}, got {input_format!r}")
    config = resolve_bert_config(bert_config)
    if max_seq_length > config.max_position_embeddings:
        raise ValueError(
            f"max_seq_length={max_seq_length} is above the model's "
            f"max_position_embeddings={config.max_position_embeddings}"
        )
    if max_predictions_per_seq > max_seq_length:
        raise ValueError(
            f"max_predictions_per_seq={max_predictions_per_seq} "
            f"is above max_seq_length={max_seq_length}"
        )
    for name, value in (
        ("train_batch_size", train_batch_size),
        ("num_train_steps", num_train_steps),
        ("save_checkpoints_steps", save_checkpoints_steps),
    ):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not 0 <= num_warmup_steps <= num_train_steps:
        raise ValueError(
            f"num_warmup_steps={num_warmup_steps} must be in [0, num_train_steps={num_train_steps}]"
        )
    if not vocab_file:
        raise ValueError("vocab_file is required")
    tokenizer = load_pretraining_tokenizer(vocab_file, do_lower_case, config)
    check_corpus(input_file, input_format)
    if eval_input_file:
        check_corpus(eval_input_file, input_format)
    policy = distribute.set_mixed_precision(mixed_precision, force=force_mixed_precision)
    distribute.warn_if_slow_jit(policy, jit_compile)
    keras.utils.set_random_seed(seed)

    data_args = dict(max_seq_length=max_seq_length, max_predictions_per_seq=max_predictions_per_seq)

    def dataset(files, repeat, data_seed):
        if input_format == "tfrecord":
            return pretraining_tfrecords.tfrecord_dataset(
                files, train_batch_size, repeat=repeat, shuffle=repeat, seed=data_seed, **data_args
            )
        return data_lib.pretraining_dataset(
            files,
            tokenizer,
            train_batch_size,
            masked_lm_prob=masked_lm_prob,
            short_seq_prob=short_seq_prob,
            do_whole_word_mask=do_whole_word_mask,
            input_format=input_format,
            seed=data_seed,
            repeat=repeat,
            **data_args,
        )

    def dataset_fn(skip):
        # The pipeline is deterministic under its seed: skipping the
        # batches already trained puts a resumed run where it stopped.
        return dataset(input_file, True, seed).skip(skip).map(data_lib.to_model_inputs)

    validation = None
    if eval_input_file:
        # Fixed held-out batches (cached: the same masks at every
        # evaluation).
        validation = (
            dataset(eval_input_file, False, seed + 1)
            .take(eval_steps)
            .map(data_lib.to_model_inputs)
            .cache()
        )

    with strategy.scope():
        model = build_pretrainer(config, init_checkpoint)
        opt = create_optimizer(
            learning_rate,
            num_train_steps=num_train_steps,
            num_warmup_steps=num_warmup_steps,
            optimizer=optimizer,
            weight_decay=weight_decay,
            decay=lr_decay,
            global_clipnorm=global_clipnorm,
            gradient_accumulation_steps=gradient_accumulation_steps,
        )
        compile_pretrainer(
            model, opt, jit_compile=jit_compile, steps_per_execution=steps_per_execution
        )

    tf.io.gfile.makedirs(output_dir)
    result = fit_resumable(
        model,
        dataset_fn,
        num_train_steps,
        checkpoint_dir=os.path.join(output_dir, "checkpoints"),
        save_checkpoints_steps=save_checkpoints_steps,
        validation_data=validation,
        tensorboard_dir=(
            os.path.join(output_dir, "logs") if distribute.is_chief(strategy) else None
        ),
        strategy=strategy,
        verbose=verbose,
    )
    logging.info(
        "Trained steps %d..%d of %d", result.initial_step, result.final_step, num_train_steps
    )
    if export and distribute.is_chief(strategy) and (result.final_step >= num_train_steps):
        checkpoints.save_google_checkpoint(
            model, os.path.join(output_dir, "export", "google"), vocab_file
        )
        checkpoints.save_hf_checkpoint(
            model, os.path.join(output_dir, "export", "huggingface"), vocab_file
        )
        logging.info("Exported the weights to %s", os.path.join(output_dir, "export"))
    return model, result
