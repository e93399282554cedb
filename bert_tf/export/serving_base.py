"""Shared base of the end-to-end (raw strings in) serving modules.

Every exported task model is a `tf.Module` built from a fine-tuned Keras
head (id level), its `BertTokenizer` and packing settings. It exposes:

- `serving_default`: the task's raw-string signature (inputs `tf.string`
  [None]; a task module defines it as `serve`);
- `preprocess`: TF Hub's preprocessor interface on the same strings (input
  `text`, outputs `input_word_ids`, `input_mask`, `input_type_ids`);
- `token_ids`: the Keras head itself on int32 [None, None] ids.

The module also carries the whole `PreprocessingModule` as `.preprocessor`
(`tokenize`, `tokenize_with_offsets`, `bert_pack_inputs`, vocab asset), so a
loaded SavedModel offers everything a TF Hub preprocessor does.

Dimension legend: B = batch, S = sequence, C = classes, H = hidden.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from bert_tf.encoder import INPUT_NAMES
from bert_tf.export.preprocessing import PreprocessingModule
from bert_tf.text.packer import pack_segments
from bert_tf.text.tokenizer import BertTokenizer

STRINGS = tf.TensorSpec([None], tf.string)


def strings_spec(name: str) -> tf.TensorSpec:
    """A named `tf.string` [None] input."""
    return tf.TensorSpec([None], tf.string, name=name)


def trim_to_longest(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Cuts packed [B, S] inputs to the batch's longest row, [B, S'].

    For heads whose outputs do not depend on S (classifier, embedder): the
    padding is masked out of attention, so results are unchanged (up to float
    rounding), and a short request costs S' positions, not S.
    """
    longest = tf.reduce_max(tf.reduce_sum(inputs["input_mask"], axis=1))
    longest = tf.maximum(longest, 1)  # An empty batch keeps one column.
    # tf.slice (TFLite SLICE), not [:, :n]: that StridedSlice has no builtin.
    return {
        name: tf.slice(value, [0, 0], tf.stack([-1, longest])) for name, value in inputs.items()
    }


def same_batch(a: tf.Tensor, b: tf.Tensor, names: str) -> tf.Operation:
    """An assertion that two inputs have the same batch size (clear error)."""
    return tf.debugging.assert_equal(
        tf.shape(a)[0],
        tf.shape(b)[0],
        message=f"inputs {names} must have the same batch size",
    )


def track_backing_variables(module: tf.Module) -> int:
    """Makes a module's Keras models restorable by TF Serving's TF1 loader.

    A Keras 3 model kept as a tracked attribute of a `tf.Module` is saved as
    Keras variables whose checkpoint entries restore into *copies*, while the
    serving functions read the backing `tf.Variable`s, which the TF1 loader
    (`tf.compat.v1.saved_model.loader.load`, TF Serving's C++ path) then
    leaves uninitialized: "Could not find variable logits/bias"
    (tensorflow/tensorflow#72963, keras-team/keras#20095). `tf.saved_model.load`
    hides the problem. Tracking the backing `tf.Variable`s instead of the
    model fixes it without storing the weights twice, and leaves the
    model's optimizer out of the export.

    Idempotent; the module keeps its attributes for Python use.

    Returns:
      How many variables the module now tracks this way.
    """
    variables = list(getattr(module, "keras_variables", None) or [])
    for attr, value in list(vars(module).items()):
        if not isinstance(value, keras.layers.Layer):
            continue
        delattr(module, attr)  # Drops the tracking dependency too.
        object.__setattr__(module, attr, value)  # Untracked Python attribute.
        variables += [v.value for v in value.variables]
    if variables:
        seen = {}
        for v in variables:
            seen.setdefault(id(v), v)
        module.keras_variables = list(seen.values())
    return len(variables)


class TaskServingModule(tf.Module):
    """Base: strings → task outputs. Subclasses define `serve` (a tf.function).

    Hooks a subclass may override:

    - `extra_token_id_inputs()`: inputs of the `token_ids` signature beyond
      the three BERT inputs (default none); called by `__init__`, before the
      subclass sets its own attributes.
    - `tflite_signatures()`: the signatures a TFLite file gets (default
      `serving_default` = `serve`); a module whose `serve` holds ops TFLite
      lacks (assertions) returns a TFLite-friendly variant here.

    Args:
      model: the id-level Keras head (a bert_tf head).
      tokenizer: its `BertTokenizer`.
      seq_length: packed length S.
      truncator: `"round_robin"` or `"waterfall"`.
      vocab_path: a `vocab.txt` to attach as the asset, or None.
    """

    task: str = ""

    def __init__(
        self,
        model: keras.Model,
        tokenizer: BertTokenizer,
        seq_length: int,
        truncator: str = "round_robin",
        vocab_path: str | None = None,
    ):
        super().__init__()
        self.model = model
        # One shard: the encoder's time dwarfs tokenizing, and the
        # `preprocess` signature also goes into TFLite files.
        self.preprocessor = PreprocessingModule(
            tokenizer, seq_length, truncator, vocab_path, num_shards=1
        )
        self.seq_length = int(seq_length)
        self._tokenizer = tokenizer
        self.special_ids = tokenizer.special_token_ids()
        input_specs = {
            name: tf.TensorSpec([None, None], tf.int32, name=name) for name in INPUT_NAMES
        }
        input_specs.update(self.extra_token_id_inputs())

        @tf.function(input_signature=[input_specs])
        def token_ids(inputs):
            outputs = self.model(inputs, training=False)
            if not isinstance(outputs, dict):
                outputs = {"outputs": outputs}
            # float32 out, also from a model computing in bfloat16.
            return tf.nest.map_structure(
                lambda t: tf.cast(t, tf.float32) if t.dtype.is_floating else t, outputs
            )

        self.token_ids = token_ids

    def extra_token_id_inputs(self) -> dict[str, tf.TensorSpec]:
        """Extra `token_ids` inputs, name → int32 spec (default: none)."""
        return {}

    def pack(self, *segments: tf.Tensor) -> dict[str, tf.Tensor]:
        """Tokenizes and packs 1..N string segments into model inputs."""
        return self.preprocessor._pack(list(segments))

    def pack_ids(self, ids: tf.RaggedTensor) -> dict[str, tf.Tensor]:
        """Packs one segment of token ids [B, (T)] into model inputs [B, S]."""
        special = self.special_ids
        return pack_segments(
            [ids],
            self.seq_length,
            special["start_of_sequence_id"],
            special["end_of_segment_id"],
            special["padding_id"],
        )

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """serving_default, preprocess and token_ids, for `tf.saved_model.save`.

        Also switches the module to tracking its Keras models' backing
        variables (`track_backing_variables`), so the SavedModel restores in
        TF Serving's TF1 loader.
        """
        track_backing_variables(self)
        return {
            "serving_default": self.serve.get_concrete_function(),
            "preprocess": self.preprocessor.__call__.get_concrete_function(),
            "token_ids": self.token_ids.get_concrete_function(),
        }

    def tflite_signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """`serving_default` for a TFLite file (`tflite.convert_task`).

        The default is `serve` itself; override it when `serve` needs ops
        TFLite has no kernel for (the graph's input checks).
        """
        return {"serving_default": self.serve.get_concrete_function()}

    def serve(self, *args, **kwargs):  # pragma: no cover - overridden
        raise NotImplementedError
