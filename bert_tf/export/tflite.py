"""TFLite files that take raw strings: TFLite builtins plus TF-Text's ops.

Conversion uses `TFLITE_BUILTINS` with custom ops allowed, never
`SELECT_TF_OPS`, so the file needs no Flex delegate. The custom ops it may
hold are TF-Text's, which LiteRT runs once they are registered:

  from ai_edge_litert import interpreter
  import tensorflow_text
  runner = interpreter.InterpreterWithCustomOps(
      custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
      model_path="preprocess.tflite").get_signature_runner()

Every conversion is audited (`op_audit.audit_tflite`).
"""

import shutil
import tempfile
from typing import Dict, Sequence

import tensorflow as tf

from bert_tf.export import op_audit
from bert_tf.export.preprocessing import PreprocessingModule
from bert_tf.text.tokenizer import BertTokenizer


def convert_module(
    module: tf.Module,
    signatures: Dict[str, tf.types.experimental.ConcreteFunction],
    optimizations: Sequence[tf.lite.Optimize] = (),
    representative_dataset=None,
) -> bytes:
    """Converts a module's signatures to one TFLite file, names kept.

    The module is saved as a SavedModel in a temporary folder first, so the
    TFLite signature runners carry the same names and input/output names as
    the SavedModel's signatures.

    Args:
      module: the object that owns the functions and their variables.
      signatures: signature name → concrete function.
      optimizations: TFLite optimizations (e.g. `[tf.lite.Optimize.DEFAULT]`).
      representative_dataset: for full-integer quantization.

    Returns:
      The TFLite flatbuffer.

    Raises:
      ValueError: the model would need Flex or non-TF-Text custom ops.
    """
    staging = tempfile.mkdtemp(prefix="bert_tf_tflite_")
    try:
        tf.saved_model.save(module, staging, signatures=signatures)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            staging, signature_keys=list(signatures)
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.allow_custom_ops = True  # TF-Text's ops, audited below.
        converter.optimizations = list(optimizations)
        if representative_dataset is not None:
            converter.representative_dataset = representative_dataset
        model = converter.convert()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    op_audit.audit_tflite(model)
    return model


def convert_preprocessing(
    tokenizer: BertTokenizer,
    seq_length: int = 128,
    truncator: str = "round_robin",
) -> bytes:
    """The preprocessing model as TFLite.

    Signatures: `serving_default` (input `text` [None] string) and
    `serving_pair` (`text_a`, `text_b`), each returning `input_word_ids`,
    `input_mask`, `input_type_ids` int32 [None, seq_length], identical to the
    TensorFlow graph.
    """
    module = PreprocessingModule(tokenizer, seq_length, truncator)
    return convert_module(module, module.signatures())
