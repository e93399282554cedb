"""Which ops an exported model needs, and whether stock runtimes have them.

The stock `tensorflow_model_server` links core TensorFlow and TF-Text's ops,
nothing else; LiteRT runs TFLite builtins plus the custom ops that TF-Text
registers (`tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`). An export
that needs anything more fails only when it is served, so the exporters audit
their output and fail at export time instead.
"""

import functools
import glob
import inspect
import os

import flatbuffers
import tensorflow as tf
import tensorflow_text
from tensorflow.core.protobuf import saved_model_pb2

# Custom ops with TFLite kernels in TF-Text 2.20's registrar
# (tensorflow_text/core/kernels/*_tflite.cc, registered by SELECT_TFTEXT_OPS).
TF_TEXT_TFLITE_OPS = frozenset(
    {
        "TFText>ByteSplitWithOffsets",
        "TFText>ByteSplitByOffsets",
        "FastBertNormalize",
        "FastSentencepieceDetokenize",
        "FastSentencepieceTokenize",
        "FastWordpieceDetokenize",
        "FastWordpieceTokenize",
        "FastWordpieceTokenizeWithOffsets",
        "TFText>NgramsStringJoin",
        "RaggedTensorToTensor",
        "TFText>RoundRobinGenerateMasks",
        "TFText>RoundRobinTrim",
        "SentenceFragmenterV2",
        "TFText>Utf8Binarize",
        "TFText>WhitespaceTokenize",
        "TFText>FastBertNormalize",
    }
)


@functools.lru_cache(maxsize=1)
def core_tensorflow_ops() -> frozenset:
    """Op types of core TensorFlow (those with a `tf.raw_ops` endpoint)."""
    return frozenset(name for name in dir(tf.raw_ops) if not name.startswith("_"))


@functools.lru_cache(maxsize=1)
def tf_text_ops() -> frozenset:
    """Op types that TF-Text's kernel libraries register."""
    names = set()
    ops_dir = os.path.join(os.path.dirname(tensorflow_text.__file__), "python", "ops")
    for library in sorted(glob.glob(os.path.join(ops_dir, "_*.so"))):
        module = tf.load_op_library(library)
        # The module has one CamelCase raw-op function per op; namespaced ops
        # ("TFText>Foo") appear with ">" spelt "_".
        for attr in dir(module):
            if attr[:1].isupper() and inspect.isfunction(getattr(module, attr)):
                names.add(attr.replace("TFText_", "TFText>", 1))
    return frozenset(names)


def saved_model_op_types(export_dir: str) -> set[str]:
    """Every op type in a SavedModel's graphs, functions included."""
    path = os.path.join(export_dir, "saved_model.pb")
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"no saved_model.pb in {export_dir}")
    proto = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        proto.ParseFromString(f.read())
    ops = set()
    for meta_graph in proto.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def audit_saved_model(export_dir: str) -> dict[str, list[str]]:
    """Lists a SavedModel's op types by origin; fails on any other op.

    Returns:
      `{"core": [...], "tf_text": [...]}`, sorted op type names.

    Raises:
      ValueError: naming each op that is neither core TensorFlow nor TF-Text,
        which the stock `tensorflow_model_server` could not run.
    """
    ops = saved_model_op_types(export_dir)
    # Function names of the SavedModel's own library appear as op types too.
    proto = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    own_functions = {
        f.signature.name for mg in proto.meta_graphs for f in mg.graph_def.library.function
    }
    ops -= own_functions
    core = sorted(ops & core_tensorflow_ops())
    text = sorted((ops - core_tensorflow_ops()) & tf_text_ops())
    unknown = sorted(ops - set(core) - set(text))
    if unknown:
        raise ValueError(
            f"{export_dir} uses ops that are neither core TensorFlow nor TF-Text, "
            f"so the stock tensorflow_model_server cannot run it: {unknown}"
        )
    return {"core": core, "tf_text": text}


def tflite_custom_ops(model_content: bytes) -> list[str]:
    """The custom op codes of a TFLite flatbuffer (builtins are not listed)."""
    buf = bytearray(model_content)
    # Model.operator_codes is field 1; OperatorCode.custom_code is field 1.
    model = flatbuffers.table.Table(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))
    codes_offset = model.Offset(6)
    if not codes_offset:
        return []
    vector = model.Vector(codes_offset)
    custom = []
    for i in range(model.VectorLen(codes_offset)):
        code = flatbuffers.table.Table(buf, model.Indirect(vector + 4 * i))
        name_offset = code.Offset(6)
        if name_offset:
            custom.append(code.String(name_offset + code.Pos).decode("utf-8"))
    return sorted(set(custom))


def audit_tflite(model_content: bytes) -> list[str]:
    """Checks that a TFLite model needs only builtins and TF-Text's ops.

    Returns:
      The sorted custom ops used (all from TF-Text).

    Raises:
      ValueError: naming Flex (`SELECT_TF_OPS`) or other custom ops.
    """
    custom = tflite_custom_ops(model_content)
    flex = [op for op in custom if op.startswith("Flex")]
    other = [op for op in custom if op not in TF_TEXT_TFLITE_OPS and op not in flex]
    if flex or other:
        raise ValueError(
            "the TFLite model needs ops that LiteRT with TF-Text's custom ops "
            f"cannot run: Flex ops {flex}, other custom ops {other}"
        )
    return custom
