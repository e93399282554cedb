"""Text (or text pair) classification and regression on raw strings.

`ClassifierServing` is a `TaskServingModule` (see `serving_base`) around a
`BertClassifier` or `BertRegressor`: `serving_default` takes `text` [B] (or
`text_a` and `text_b` [B] for pairs) and returns `logits`, `probabilities`,
`label_ids`, `label_names` (classifier) or `predictions` (regressor); the
packed inputs are trimmed to the batch's longest row (`trim_to_longest`).

Dimension legend: B = batch, S = sequence, C = classes, N = regression
outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from bert_tf.export.serving_base import TaskServingModule, same_batch, strings_spec, trim_to_longest
from bert_tf.graph_ops import vector
from bert_tf.text.tokenizer import BertTokenizer

__all__ = ["ClassifierServing"]


class ClassifierServing(TaskServingModule):
    """Text (or text pair) classification or regression on raw strings.

    `serving_default` takes `text` [B] (or `text_a`, `text_b` [B] for pairs)
    and returns, for a classifier:

    - `logits` [B, C] float32, `probabilities` [B, C] float32 (softmax);
    - `label_ids` [B] int32 (argmax), `label_names` [B] string;

    and for a regressor (`regression=True`): `predictions` [B, N] float32.

    Args:
      model: a `BertClassifier` (or `BertRegressor`).
      tokenizer: its `BertTokenizer`.
      seq_length: packed length S.
      labels: class names, in id order (classification); None for regression.
      pair: take two texts (`text_a`, `text_b`) per example.
      regression: the model is a regressor.
      **kwargs: `TaskServingModule` arguments (`truncator`, `vocab_path`).
    """

    task = "classify"

    def __init__(
        self,
        model: keras.Model,
        tokenizer: BertTokenizer,
        seq_length: int,
        labels: Sequence[str] | None = None,
        pair: bool = False,
        regression: bool = False,
        **kwargs,
    ):
        num_outputs = int(model.outputs[0].shape[-1])
        if not regression:
            if labels is None:
                labels = [str(i) for i in range(num_outputs)]
            labels = [str(label) for label in labels]
            if len(labels) != num_outputs:
                raise ValueError(
                    f"{len(labels)} labels {labels!r} for a model with {num_outputs} classes"
                )
        # Checked first: the base class traces the preprocessing functions.
        super().__init__(model, tokenizer, seq_length, **kwargs)
        self.pair = bool(pair)
        self.regression = bool(regression)
        self.labels = None if regression else list(labels)
        if self.pair:
            self.serve = tf.function(
                self._serve_pair,
                input_signature=[
                    strings_spec("text_a"),
                    strings_spec("text_b"),
                ],
            )
        else:
            self.serve = tf.function(self._serve_single, input_signature=[strings_spec("text")])

    def _serve_single(self, text):
        return self._outputs(trim_to_longest(self.pack(vector(text))))

    def _serve_pair(self, text_a, text_b):
        # Checked first so that unequal batches fail here, with a clear
        # message, not inside the packer's ragged ops.
        text_a, text_b = vector(text_a), vector(text_b)
        with tf.control_dependencies([same_batch(text_a, text_b, "text_a and text_b")]):
            text_a = tf.identity(text_a)
            text_b = tf.identity(text_b)
        return self._outputs(trim_to_longest(self.pack(text_a, text_b)))

    def _outputs(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = tf.cast(self.model(inputs, training=False), tf.float32)
        if self.regression:
            return {"predictions": outputs}  # [B, N]
        label_ids = tf.argmax(outputs, axis=-1, output_type=tf.int32)  # [B]
        names = tf.constant(self.labels, tf.string)  # [C]
        return {
            "logits": outputs,  # [B, C]
            "probabilities": tf.nn.softmax(outputs, axis=-1),  # [B, C]
            "label_ids": label_ids,
            "label_names": tf.gather(names, label_ids),  # [B]
        }

    @classmethod
    def from_task(cls, task, vocab_path: str | None = None):
        """From a `bert_tf.tasks.common.TaskFiles` of a "classify" folder."""
        info = task.info
        columns = info.get("text_columns") or ["text"]
        if len(columns) not in (1, 2):
            raise ValueError(
                f"task.json: text_columns={columns!r}; a classifier takes 1 text or a pair"
            )
        return cls(
            task.model,
            task.tokenizer,
            int(info["max_seq_length"]),
            labels=info.get("labels"),
            pair=len(columns) == 2,
            regression=bool(info.get("regression", False)),
            truncator=info.get("truncator", "round_robin"),
            vocab_path=vocab_path,
        )
