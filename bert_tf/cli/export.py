"""`bert_tf export`: models for TF Serving (SavedModel) or LiteRT (TFLite).

A fine-tuned model folder (written by `bert_tf finetune`) becomes a versioned
SavedModel in TF Serving's layout, with warm-up requests and `models.config`:

  bert_tf export --model_dir=runs/sst                 # savedmodels/sst/<next>
  bert_tf export --model_dir=runs/sst --name=sentiment --version=3 --overwrite
  bert_tf export --model_dir=runs/squad --warmup_file=questions.tsv
  bert_tf export --model_dir=runs/sst --format=tflite --quantization=float16
  bert_tf export --model_dir=runs/sst --precision=bfloat16  # AVX512-BF16/AMX, GPU

`--precision=bfloat16` writes a SavedModel whose encoder computes in
bfloat16 (Keras `mixed_bfloat16`, traced without XLA: oneDNN's fast path on
CPUs with AVX512-BF16 or AMX, and GPUs); its outputs stay float32. The
choice is made here, not when the server loads the model (see
`bert_tf.export.precision`); an export machine without fast bfloat16 warns
but writes it. TFLite has no bfloat16: use `--quantization` there.

`--warmup_file` holds one example request per line; a model with several
inputs (`text_a`/`text_b`, `question`/`context`) takes them tab-separated in
that order. `models.config` names `--serving_base_path/<name>` as each
model's base path (`/models`, where the `tensorflow/serving` image expects
the mounted folder); `--serving_base_path=local` writes this machine's paths.

An embedder (pooled and mean-pooled embeddings) or a fill-mask model (the
masked LM's top-k tokens at each `[MASK]`) comes from a checkpoint instead:

  bert_tf export --model=embedder --init_checkpoint=minilm
  bert_tf export --model=fill_mask --init_checkpoint=uncased_L-12_H-768_A-12

The preprocessing model alone (raw strings → BERT inputs) is written from a
vocabulary:

  bert_tf export --vocab_file=vocab.txt --do_lower_case \\
      --export_path=savedmodels/preprocess/1        # or a .tflite file
"""

import os
import sys

from absl import flags, logging

from bert_tf import files

FLAGS = flags.FLAGS
QUANTIZATIONS = ("float32", "float16", "dynamic_int8", "int8")
PRECISIONS = ("float32", "bfloat16")


def _define(kind: str, name: str, default, help_text: str, *args) -> None:
    """`flags.DEFINE_<kind>`, skipped when another command defined `name`.

    Commands share flag names (`model_dir`, `vocab_file`, ...); defining each
    once lets several commands run in one process (tests, notebooks).
    """
    if name not in FLAGS:
        getattr(flags, f"DEFINE_{kind}")(name, default, *args, help_text)


def define_flags():
    _define(
        "string",
        "model_dir",
        None,
        "A fine-tuned model folder (model.keras, vocab.txt, task.json).",
    )
    _define(
        "string",
        "export_dir",
        "savedmodels",
        "Folder of model folders: <export_dir>/<name>/<version>.",
    )
    _define("string", "name", None, "Model name (default: the folder's name).")
    _define(
        "integer",
        "version",
        None,
        "Integer version (default: the next free one, 1 for a new model).",
    )
    _define(
        "boolean",
        "overwrite",
        False,
        "Replace an existing version (or file) instead of failing.",
    )
    _define(
        "enum",
        "format",
        "saved_model",
        "What to write.",
        ["saved_model", "tflite"],
    )
    _define(
        "enum",
        "quantization",
        "float32",
        "TFLite weights/activations.",
        list(QUANTIZATIONS),
    )
    _define(
        "enum",
        "precision",
        "float32",
        "SavedModel compute dtype: bfloat16 is fast on CPUs with AVX512-BF16 "
        "or AMX and on GPUs (outputs stay float32).",
        list(PRECISIONS),
    )
    _define(
        "string",
        "warmup_file",
        None,
        "Example requests, one per line (tab-separated for several inputs); "
        "default: built-in examples fitting the model's inputs.",
    )
    _define(
        "string",
        "serving_base_path",
        "/models",
        "Where the server sees --export_dir, for models.config ('local': "
        "this machine's absolute path).",
    )
    # Models without a fine-tuned folder, from a checkpoint.
    _define(
        "enum",
        "model",
        None,
        "Without --model_dir: 'embedder' (pooled and mean-pooled embeddings "
        "of --init_checkpoint's encoder) or 'fill_mask' (the masked-LM head "
        "of a Google TF1 checkpoint, e.g. the original BERT's or "
        "`bert_tf pretrain`'s export/google).",
        ["embedder", "fill_mask"],
    )
    _define(
        "string",
        "init_checkpoint",
        None,
        "--model's checkpoint: 'minilm', a Hugging Face or Google TF1 folder "
        "(embedder); a Google TF1 folder (fill_mask).",
    )
    _define("integer", "top_k", 5, "fill_mask: tokens returned per [MASK].")
    # The preprocessing model from a vocabulary.
    _define("string", "vocab_file", None, "The WordPiece vocab.txt.")
    _define("boolean", "do_lower_case", None, "Uncased (True) or cased.")
    _define("integer", "max_seq_length", None, "Default packed length (128).")
    _define(
        "enum",
        "truncator",
        "round_robin",
        "How segments are trimmed to fit.",
        ["round_robin", "waterfall"],
    )
    _define(
        "string",
        "export_path",
        None,
        "Preprocessing: SavedModel folder (e.g. savedmodels/preprocess/1) or "
        ".tflite file; task models: the .tflite file.",
    )


def read_warmup_file(path: str) -> list:
    """Example requests from a text file: one per line, fields tab-separated."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--warmup_file not found: {path!r}")
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line.strip():
                rows.append(tuple(line.split("\t")))
    if not rows:
        raise ValueError(f"--warmup_file {path!r} has no example lines")
    return rows


def _write_file(path: str, data: bytes, overwrite: bool) -> None:
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    files.atomic_write(path, data)


def _checkpoint_module():
    """The serving module of --model from --init_checkpoint."""
    from bert_tf.export import precision
    from bert_tf.export.embedder_serving import EmbedderServing
    from bert_tf.export.fill_mask_serving import FillMaskServing
    from bert_tf.tasks import common

    if not FLAGS.init_checkpoint:
        raise ValueError(f"--model={FLAGS.model} needs --init_checkpoint")
    seq_length = FLAGS.max_seq_length or 128
    if FLAGS.model == "embedder":
        encoder, tokenizer, vocab = common.load_initial_model(
            FLAGS.init_checkpoint,
            vocab_file=FLAGS.vocab_file,
            lower_case=FLAGS.do_lower_case,
            max_seq_length=seq_length,
        )
        encoder = precision.with_precision(encoder, FLAGS.precision)
        return EmbedderServing(encoder, tokenizer, seq_length, vocab_path=vocab)
    from bert_tf import checkpoints

    folder = FLAGS.init_checkpoint
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"--init_checkpoint must be a Google TF1 checkpoint folder "
            f"(bert_config.json, bert_model.ckpt.*, vocab.txt): {folder!r}"
        )
    vocab = FLAGS.vocab_file or common.check_file(
        os.path.join(folder, "vocab.txt"), "checkpoint's vocab.txt"
    )
    lower_case = common.resolve_lower_case(vocab, FLAGS.do_lower_case, folder)
    pretrainer = checkpoints.load_google_checkpoint(folder, with_heads=True)
    pretrainer = precision.with_precision(pretrainer, FLAGS.precision)
    return FillMaskServing.from_pretrainer(
        pretrainer, vocab, lower_case, seq_length, top_k=FLAGS.top_k
    )


def _export_task() -> None:
    from bert_tf.export import serving

    if FLAGS.model_dir:
        source = FLAGS.model_dir
        if not os.path.isdir(source):
            raise FileNotFoundError(f"--model_dir not found: {source!r}")
        name = FLAGS.name
    else:
        source = _checkpoint_module()
        name = FLAGS.name or FLAGS.model
    warmup = read_warmup_file(FLAGS.warmup_file) if FLAGS.warmup_file else None
    if FLAGS.format == "tflite":
        _export_task_tflite(source, name, warmup)
        return
    base_path = FLAGS.serving_base_path
    result = serving.export_for_serving(
        source,
        base_dir=FLAGS.export_dir,
        name=name,
        version=FLAGS.version,
        overwrite=FLAGS.overwrite,
        warmup_inputs=warmup,
        serving_base_path=None if base_path == "local" else base_path,
        precision=FLAGS.precision,
    )
    sys.stdout.write(
        f"wrote {result.path} (model {result.name!r}, version "
        f"{result.version}, {result.precision}, {result.warmup_records} "
        "warm-up requests)\n"
        f"TF-Text ops: {', '.join(result.audit['tf_text']) or 'none'}; "
        f"serve with tensorflow_model_server >= {result.min_serving_release}\n"
        f"models.config: {result.models_config}\n"
    )


def _export_task_tflite(source, name: str | None, warmup) -> None:
    from bert_tf.export import registry, tflite

    if FLAGS.quantization == "int8" and warmup is None:
        raise ValueError(
            "--quantization=int8 calibrates on your text: pass --warmup_file "
            "(one example per line), or use --quantization=dynamic_int8"
        )
    if isinstance(source, str):
        name = name or os.path.basename(os.path.normpath(source))
    path = FLAGS.export_path or os.path.join(FLAGS.export_dir, f"{name}.tflite")
    if os.path.exists(path) and not FLAGS.overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    module = registry.build_serving_module(source) if isinstance(source, str) else source
    texts = None
    if warmup is not None:
        texts = [row[0] if len(row) == 1 else row for row in warmup]
    model = tflite.convert_task(
        module,
        quantization=FLAGS.quantization,
        representative_texts=texts,
    )
    _write_file(path, model, FLAGS.overwrite)
    sys.stdout.write(f"wrote {path} ({len(model)} bytes)\n")


def _export_preprocessing() -> None:
    from bert_tf.export import (
        preprocessing,
        tflite,
    )
    from bert_tf.text import BertTokenizer

    missing = [f"--{n}" for n in ("do_lower_case", "export_path") if getattr(FLAGS, n) is None]
    if missing:
        raise ValueError(
            f"exporting the preprocessing model from --vocab_file also needs "
            f"{' and '.join(missing)}"
        )
    seq_length = FLAGS.max_seq_length or 128
    tokenizer = BertTokenizer(FLAGS.vocab_file, lower_case=FLAGS.do_lower_case)
    if FLAGS.format == "saved_model":
        audit = preprocessing.export_preprocessing(
            FLAGS.export_path,
            tokenizer,
            seq_length=seq_length,
            truncator=FLAGS.truncator,
            overwrite=FLAGS.overwrite,
        )
        logging.info("TF-Text ops used: %s", audit["tf_text"])
    else:
        if os.path.exists(FLAGS.export_path) and not FLAGS.overwrite:
            raise FileExistsError(f"{FLAGS.export_path} exists; pass --overwrite to replace it")
        model = tflite.convert_preprocessing(
            tokenizer, seq_length=seq_length, truncator=FLAGS.truncator
        )
        _write_file(FLAGS.export_path, model, FLAGS.overwrite)
    sys.stdout.write(f"wrote {FLAGS.export_path}\n")


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.model_dir and FLAGS.model:
        raise ValueError("pass either --model_dir or --model, not both")
    if FLAGS.model_dir and FLAGS.vocab_file:
        raise ValueError(
            "pass either --model_dir (a fine-tuned model) or --vocab_file "
            "(the preprocessing model), not both"
        )
    if FLAGS.precision != "float32":
        if FLAGS.format == "tflite":
            raise ValueError(
                f"--precision={FLAGS.precision} is for SavedModels: TFLite has no "
                "bfloat16 kernels (use --quantization=float16 or dynamic_int8)"
            )
        if not (FLAGS.model_dir or FLAGS.model):
            raise ValueError(
                f"--precision={FLAGS.precision}: the preprocessing model has no "
                "weights; pass --model_dir or --model"
            )
    if FLAGS.model_dir or FLAGS.model:
        _export_task()
    elif FLAGS.vocab_file:
        _export_preprocessing()
    else:
        raise ValueError(
            "nothing to export: pass --model_dir=<fine-tuned model folder>, "
            "--model=embedder|fill_mask with --init_checkpoint, or --vocab_file, "
            "--do_lower_case and --export_path for the preprocessing model"
        )
