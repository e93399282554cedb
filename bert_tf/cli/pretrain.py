"""`bert_tf pretrain`: pre-train BERT (masked LM + next sentence) with Model.fit.

Flags keep the names of google-research/bert `run_pretraining.py` and
`create_pretraining_data.py` where they exist. Training data is raw text
(masked dynamically in the graph) or TFRecord files; `--write_tfrecords`
instead writes the offline examples (`dupe_factor` passes) and exits.

Run the same command again after an interruption: it resumes from the last
checkpoint in `--output_dir`.
"""

import os

from absl import flags, logging

from bert_tf.data import pretraining_tfrecords
from bert_tf.training import distribute
from bert_tf.training import pretrain as pretrain_lib

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("input_file", None, "Training data: comma-separated globs; .gz is gzip.")
    flags.DEFINE_enum(
        "input_format",
        "sentences",
        list(pretrain_lib.INPUT_FORMATS),
        "sentences: one sentence per line, blank line between "
        "documents; paragraphs: one document per line; "
        "tfrecord: pre-written examples.",
    )
    flags.DEFINE_string(
        "eval_input_file", None, "Held-out data in the same format, evaluated at every checkpoint."
    )
    flags.DEFINE_integer("eval_steps", 20, "Held-out batches per evaluation.")
    flags.DEFINE_string("vocab_file", None, "vocab.txt of the model.")
    flags.DEFINE_boolean("do_lower_case", True, "Whether the vocab is uncased.")
    flags.DEFINE_string(
        "bert_config_file",
        None,
        "bert_config.json, or a preset name such as bert_uncased_L-2_H-128_A-2.",
    )
    flags.DEFINE_string(
        "init_checkpoint", None, "Google TF1 checkpoint or Hugging Face folder to start from."
    )
    flags.DEFINE_string("output_dir", None, "Checkpoints, TensorBoard logs and exports.")
    flags.DEFINE_integer("max_seq_length", 128, "Tokens per example.")
    flags.DEFINE_integer("max_predictions_per_seq", 20, "Most masked-LM predictions per example.")
    flags.DEFINE_float("masked_lm_prob", 0.15, "Fraction of tokens masked.")
    flags.DEFINE_float("short_seq_prob", 0.1, "Probability of a shorter target length.")
    flags.DEFINE_integer("dupe_factor", 10, "Passes over the corpus with --write_tfrecords.")
    flags.DEFINE_boolean("do_whole_word_mask", False, "Mask all pieces of a word together.")
    flags.DEFINE_string(
        "write_tfrecords",
        None,
        "Write offline examples to this path prefix "
        "(sharded TFRecords) and exit instead of training.",
    )
    flags.DEFINE_integer("num_shards", 1, "TFRecord shards to write.")
    flags.DEFINE_integer("train_batch_size", 32, "Global batch size.")
    flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate.")
    flags.DEFINE_integer("num_train_steps", 100000, "Training batches.")
    flags.DEFINE_integer("num_warmup_steps", 10000, "Linear warm-up steps.")
    flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb", "adam"], "Optimizer.")
    flags.DEFINE_float("weight_decay", 0.01, "Weight decay (not on LayerNorm and biases).")
    flags.DEFINE_enum(
        "lr_decay", "linear", ["linear", "polynomial", "constant"], "Decay after warm-up."
    )
    flags.DEFINE_float("clip_norm", 1.0, "Global gradient norm clip; 0 = off.")
    flags.DEFINE_integer("gradient_accumulation_steps", 1, "Batches per optimizer update.")
    flags.DEFINE_integer("save_checkpoints_steps", 1000, "Checkpoint (and evaluation) interval.")
    flags.DEFINE_enum(
        "strategy",
        "default",
        list(distribute.STRATEGIES),
        "tf.distribute strategy; multi_worker_mirrored reads TF_CONFIG.",
    )
    flags.DEFINE_string("tpu", None, "TPU name or address (strategy=tpu).")
    flags.DEFINE_enum(
        "mixed_precision",
        "float32",
        ["float32", "mixed_float16", "mixed_bfloat16"],
        "Keras dtype policy (float16 uses loss scaling; mixed_bfloat16 trains in "
        "float32 on a CPU without AVX512-BF16/AMX unless --force_mixed_precision).",
    )
    flags.DEFINE_boolean(
        "force_mixed_precision",
        False,
        "Keep mixed_bfloat16 on a CPU without AVX512-BF16/AMX (emulated, "
        "slower); without it such a CPU trains in float32.",
    )
    flags.DEFINE_boolean(
        "jit_compile", False, "Compile with XLA (off for bfloat16 on a CPU: graph mode is faster)."
    )
    flags.DEFINE_integer("steps_per_execution", 1, "Batches per tf.function call.")
    flags.DEFINE_integer("seed", 12345, "Seed of data and initial weights.")
    flags.mark_flags_as_required(["input_file", "vocab_file"])


def _example_flags() -> dict:
    """The flags that shape the examples, as written offline or made on the fly."""
    return dict(
        max_seq_length=FLAGS.max_seq_length,
        max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        masked_lm_prob=FLAGS.masked_lm_prob,
        short_seq_prob=FLAGS.short_seq_prob,
        do_whole_word_mask=FLAGS.do_whole_word_mask,
        input_format=FLAGS.input_format,
    )


def _write_tfrecords():
    config = (
        pretrain_lib.resolve_bert_config(FLAGS.bert_config_file) if FLAGS.bert_config_file else None
    )
    tokenizer = pretrain_lib.load_pretraining_tokenizer(
        FLAGS.vocab_file, FLAGS.do_lower_case, config
    )
    if FLAGS.input_format == "tfrecord":
        raise ValueError(
            "--write_tfrecords needs raw text input (--input_format=sentences or paragraphs)"
        )
    pretrain_lib.check_corpus(FLAGS.input_file, FLAGS.input_format)
    paths, count = pretraining_tfrecords.write_pretraining_tfrecords(
        FLAGS.input_file,
        tokenizer,
        FLAGS.write_tfrecords,
        num_shards=FLAGS.num_shards,
        dupe_factor=FLAGS.dupe_factor,
        seed=FLAGS.seed,
        **_example_flags(),
    )
    logging.info("wrote %d examples to %d file(s): %s", count, len(paths), paths[0])


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.write_tfrecords:
        _write_tfrecords()
        return
    if not FLAGS.output_dir:
        raise ValueError("--output_dir is required for training")
    if not FLAGS.bert_config_file:
        raise ValueError("--bert_config_file is required: a bert_config.json or a preset name")
    if FLAGS.force_mixed_precision and FLAGS.mixed_precision != "mixed_bfloat16":
        raise ValueError("--force_mixed_precision needs --mixed_precision=mixed_bfloat16")
    strategy = (
        distribute.get_strategy("tpu", FLAGS.tpu) if FLAGS.strategy == "tpu" else FLAGS.strategy
    )
    _, result = pretrain_lib.run_pretraining(
        FLAGS.input_file,
        FLAGS.output_dir,
        FLAGS.vocab_file,
        FLAGS.bert_config_file,
        do_lower_case=FLAGS.do_lower_case,
        init_checkpoint=FLAGS.init_checkpoint,
        train_batch_size=FLAGS.train_batch_size,
        learning_rate=FLAGS.learning_rate,
        num_train_steps=FLAGS.num_train_steps,
        num_warmup_steps=FLAGS.num_warmup_steps,
        save_checkpoints_steps=FLAGS.save_checkpoints_steps,
        optimizer=FLAGS.optimizer,
        weight_decay=FLAGS.weight_decay,
        lr_decay=FLAGS.lr_decay,
        global_clipnorm=FLAGS.clip_norm or None,
        gradient_accumulation_steps=(
            FLAGS.gradient_accumulation_steps if FLAGS.gradient_accumulation_steps > 1 else None
        ),
        strategy=strategy,
        mixed_precision=FLAGS.mixed_precision,
        force_mixed_precision=FLAGS.force_mixed_precision,
        jit_compile=FLAGS.jit_compile,
        steps_per_execution=FLAGS.steps_per_execution,
        eval_input_file=FLAGS.eval_input_file,
        eval_steps=FLAGS.eval_steps,
        seed=FLAGS.seed,
        **_example_flags(),
    )
    logging.info(
        "pretrain: steps %d -> %d (this run: %d); output in %s",
        result.initial_step,
        result.final_step,
        result.trained_steps,
        os.path.abspath(FLAGS.output_dir),
    )
