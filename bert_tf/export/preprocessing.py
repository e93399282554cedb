"""The preprocessing SavedModel: raw strings in, BERT inputs out.

Export contract (TF Hub's "Preprocessor API for text embeddings with
Transformer encoders", as Model Garden's `export_tfhub_lib` writes it):

- The object itself (and the `serving_default` signature, input `text`)
  maps a `tf.string` vector [None] to a dict of int32 [None, seq_length]
  tensors `input_word_ids`, `input_mask`, `input_type_ids` (default
  `seq_length` 128). Signature `serving_pair` takes `text_a` and `text_b`.
- `.tokenize(strings)` → RaggedTensor int32 [None, (tokens)] of WordPiece
  ids; `.tokenize.get_special_tokens_dict()` → ids of the special tokens and
  `vocab_size`; `.tokenize.vocab_file` (an asset) and `.tokenize.do_lower_case`.
- `.tokenize_with_offsets(strings)` → `(ids, start_offsets, end_offsets)`,
  byte offsets into each string.
- `.bert_pack_inputs(list_of_ragged_ids, seq_length=...)` packs 1–3
  segments of ragged rank 1 or 2; `seq_length` may be given at call time.

The vocabulary travels as the asset `assets/vocab.txt`; the graph itself holds
the compiled tokenizer tables, so the SavedModel does not depend on the source
vocabulary file and records no path of the machine that built it. The batch
dimension stays `None`. Only core TensorFlow and TF-Text ops are used (audited
at export), so the stock `tensorflow_model_server` serves it.
"""

import os
import shutil
import tempfile

import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers TF-Text's ops for load_preprocessing)
from absl import logging

from bert_tf import files
from bert_tf.export import saved_model_writer
from bert_tf.text import vocab_io
from bert_tf.text.packer import pack_segments
from bert_tf.text.preprocessor import check_num_shards, tokenize_in_shards
from bert_tf.text.tokenizer import BertTokenizer

_STRINGS = tf.TensorSpec([None], tf.string)


class _Tokenize(tf.Module):
    """`preprocessor.tokenize`: strings → ragged ids, plus vocab metadata."""

    def __init__(self, tokenizer: BertTokenizer, vocab_path: str | None):
        super().__init__()
        self._tokenizer = tokenizer
        if vocab_path:
            self.vocab_file = tf.saved_model.Asset(vocab_path)
        self.do_lower_case = tf.Variable(
            tokenizer.lower_case, trainable=False, name="do_lower_case"
        )
        special = dict(tokenizer.special_token_ids())
        special["vocab_size"] = tokenizer.vocabulary_size()

        @tf.function(input_signature=[_STRINGS])
        def call(strings):
            return tokenizer.tokenize(strings)

        @tf.function(input_signature=[])
        def get_special_tokens_dict():
            return {k: tf.constant(v, tf.int32) for k, v in special.items()}

        self.__call__ = call
        self.get_special_tokens_dict = get_special_tokens_dict


class _TokenizeWithOffsets(tf.Module):
    def __init__(self, tokenizer: BertTokenizer):
        super().__init__()

        @tf.function(input_signature=[_STRINGS])
        def call(strings):
            return tokenizer.tokenize_with_offsets(strings)

        self.__call__ = call


class _PackInputs(tf.Module):
    """`preprocessor.bert_pack_inputs`: segments → model inputs."""

    def __init__(
        self,
        tokenizer: BertTokenizer,
        seq_length: int,
        truncator: str,
        max_segments: int = 3,
    ):
        super().__init__()
        ids = tokenizer.special_token_ids()

        @tf.function(autograph=False)
        def call(inputs, seq_length=seq_length):
            return pack_segments(
                inputs,
                seq_length,
                start_id=ids["start_of_sequence_id"],
                end_id=ids["end_of_segment_id"],
                pad_id=ids["padding_id"],
                truncator=truncator,
            )

        self.__call__ = call
        for ragged_rank in (1, 2):
            for num_segments in range(1, max_segments + 1):
                specs = [
                    tf.RaggedTensorSpec(
                        [None] * (ragged_rank + 1),
                        tf.int32,
                        ragged_rank=ragged_rank,
                    )
                ] * num_segments
                call.get_concrete_function(specs, seq_length=tf.TensorSpec([], tf.int32))
                call.get_concrete_function(specs)


class PreprocessingModule(tf.Module):
    """The exported object; see the module docstring for the contract.

    Args:
      tokenizer: a `BertTokenizer`.
      seq_length: default packed length.
      truncator: `"round_robin"` or `"waterfall"`.
      vocab_path: a `vocab.txt` to attach as the asset (written by
        `export_preprocessing`), or None.
      num_shards: the `text`/`text_a, text_b` signatures tokenize the batch
        in this many slices that TF runs at once on separate cores
        (`bert_tf.text.preprocessor.tokenize_in_shards`): 2 (the default)
        for a server or direct calls, 1 for a graph run on one thread
        (TFLite) or inside a parallel `tf.data` map. The task serving
        modules use 1: at serving batch sizes the encoder's time dwarfs
        tokenizing.
    """

    def __init__(
        self,
        tokenizer: BertTokenizer,
        seq_length: int = 128,
        truncator: str = "round_robin",
        vocab_path: str | None = None,
        num_shards: int = 2,
    ):
        super().__init__()
        self.tokenize = _Tokenize(tokenizer, vocab_path)
        self.tokenize_with_offsets = _TokenizeWithOffsets(tokenizer)
        self.bert_pack_inputs = _PackInputs(tokenizer, seq_length, truncator)
        self.seq_length = seq_length
        self._tokenizer = tokenizer
        self._truncator = truncator
        self._num_shards = check_num_shards(num_shards)

    def _pack(self, segments):
        ids = self._tokenizer.special_token_ids()
        return pack_segments(
            tokenize_in_shards(self._tokenizer.tokenize, segments, self._num_shards),
            self.seq_length,
            ids["start_of_sequence_id"],
            ids["end_of_segment_id"],
            ids["padding_id"],
            self._truncator,
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def __call__(self, text):
        return self._pack([text])

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="text_a"),
            tf.TensorSpec([None], tf.string, name="text_b"),
        ]
    )
    def call_pair(self, text_a, text_b):
        return self._pack([text_a, text_b])

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        return {
            "serving_default": self.__call__.get_concrete_function(),
            "serving_pair": self.call_pair.get_concrete_function(),
        }


def export_preprocessing(
    export_dir: str,
    tokenizer: BertTokenizer,
    seq_length: int = 128,
    truncator: str = "round_robin",
    overwrite: bool = False,
    num_shards: int = 2,
) -> dict[str, list]:
    """Writes the preprocessing SavedModel and audits its ops.

    `saved_model_writer.save_serving_module` writes it (temporary folder,
    op audit, then swap): `export_dir`, `overwrite`, the returned audit and
    the errors are as there.

    Args:
      export_dir: the SavedModel folder to create.
      tokenizer: a `BertTokenizer`.
      seq_length: default packed length.
      truncator: `"round_robin"` or `"waterfall"`.
      overwrite: replace an existing `export_dir`.
      num_shards: see `PreprocessingModule` (1 for use in a `tf.data` map).

    Example:
    >>> import tempfile, os
    >>> tok = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hi"],
    ...                     lower_case=True)
    >>> d = os.path.join(tempfile.mkdtemp(), "pre")
    >>> export_preprocessing(d, tok, seq_length=8)["tf_text"]
    ['FastBertNormalize', 'FastWordpieceTokenizeWithOffsets']
    """
    files.refuse_existing(export_dir, overwrite)
    staging = tempfile.mkdtemp(prefix="bert_tf_vocab_")
    try:
        vocab_path = vocab_io.save_vocabulary(
            tokenizer.vocabulary, os.path.join(staging, "vocab.txt")
        )
        module = PreprocessingModule(tokenizer, seq_length, truncator, vocab_path, num_shards)
        # The task exports' writer: temporary folder, op audit, then swap.
        audit = saved_model_writer.save_serving_module(module, export_dir, overwrite=overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logging.info(
        "exported preprocessing to %s; TF-Text ops: %s",
        export_dir,
        audit["tf_text"],
    )
    return audit


def load_preprocessing(export_dir: str) -> tf.Module | None:
    """Loads the SavedModel (TF-Text, imported by this module, registers its ops)."""
    return tf.saved_model.load(export_dir)
