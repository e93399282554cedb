"""Knowledge distillation as a Keras model: a student trained on a teacher's logits.

`Distiller` wraps the student (any bert_tf head) so that `Model.fit` trains
it against targets that hold the teacher's logits, precomputed once per
example (the teacher runs in inference mode, so its logits do not change
between epochs), together with the gold labels where an example has them:

    loss = (1 - label_weight) * T^2 * KL(softmax(t / T) || softmax(s / T))
           + label_weight * cross-entropy(gold, s)

(Hinton et al., 2015: the T^2 keeps the soft term's gradients at the scale of
the hard term's as T changes.) A regressor distils with squared errors
instead. The loss is averaged over the positions that count: every example
of a classifier; every real word-piece of a token classifier for the soft
term, and the pieces that carry a gold tag for the hard term.

Targets `y` (a dict, shapes `[B, C]` for a classifier, `[B, S, C]` for a
token classifier):
    teacher_logits: float32 [..., C].
    soft_weights: float32 [...], 1 where the soft term counts.
    labels: int32 [...] gold class ids (any value where there is none), or
        float32 [..., 1] gold values of a regressor.
    label_weights: float32 [...], 1 where a gold label counts.

The student is saved on its own (`distiller.student.save(...)`): the file is
an ordinary bert_tf head, loaded without this class.

Example:

>>> from bert_tf.encoder import BertEncoder
>>> from bert_tf.heads import BertClassifier
>>> enc = BertEncoder(vocab_size=50, hidden_size=16, num_hidden_layers=1,
...                   num_attention_heads=2, intermediate_size=32,
...                   max_position_embeddings=8)
>>> distiller = Distiller(BertClassifier(enc, num_classes=3), temperature=2.0)
>>> ids = keras.ops.ones((2, 8), "int32")
>>> x = {"input_word_ids": ids, "input_mask": ids, "input_type_ids": 0 * ids}
>>> y = {"teacher_logits": keras.ops.zeros((2, 3)), "soft_weights": keras.ops.ones((2,)),
...      "labels": keras.ops.zeros((2,), "int32"), "label_weights": keras.ops.zeros((2,))}
>>> float(distiller.compute_loss(x, y, distiller(x))) >= 0.0
True
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["Distiller"]


def _weighted_mean(values, weights):
    """Mean of `values` over the positions whose weight is 1 (0 when none)."""
    weights = ops.cast(weights, "float32")
    return ops.sum(values * weights) / ops.maximum(ops.sum(weights), 1.0)


@keras.saving.register_keras_serializable(package="bert_tf")
class Distiller(keras.Model):
    """Trains `student` on a teacher's logits and the gold labels.

    Args:
        student: the bert_tf head to train (`BertClassifier`,
            `BertRegressor` or `BertTokenClassifier`).
        temperature: T, the softmax temperature of the soft term (> 0).
        label_weight: weight of the gold-label term in [0, 1]; the soft term
            gets `1 - label_weight`.
        regression: the student is a regressor (squared errors).
        **kwargs: `keras.Model` arguments.
    """

    def __init__(
        self,
        student: keras.Model,
        temperature: float = 2.0,
        label_weight: float = 0.5,
        regression: bool = False,
        **kwargs,
    ):
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if not 0.0 <= label_weight <= 1.0:
            raise ValueError(f"label_weight must be in [0, 1], got {label_weight!r}")
        super().__init__(**kwargs)
        self.student = student
        self.temperature = float(temperature)
        self.label_weight = float(label_weight)
        self.regression = bool(regression)

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    # The student decides what it trains (a token classifier leaves its unused
    # pooler out); Keras reads both properties.
    @property
    def trainable_weights(self):
        return self.student.trainable_weights

    @property
    def trainable_variables(self):
        return self.student.trainable_variables

    def _soft_loss(self, student_logits, teacher_logits):
        if self.regression:
            return ops.mean(ops.square(student_logits - teacher_logits), axis=-1)
        t = self.temperature
        teacher_log_probs = ops.log_softmax(teacher_logits / t, axis=-1)
        student_log_probs = ops.log_softmax(student_logits / t, axis=-1)
        kl = ops.sum(ops.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
        return (t * t) * kl

    def _hard_loss(self, student_logits, labels):
        if self.regression:
            labels = ops.reshape(ops.cast(labels, "float32"), ops.shape(student_logits))
            return ops.mean(ops.square(student_logits - labels), axis=-1)
        return keras.losses.sparse_categorical_crossentropy(
            ops.cast(labels, "int32"), student_logits, from_logits=True
        )

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        del x, sample_weight, training  # The weights travel in `y`.
        logits = ops.cast(y_pred, "float32")  # [..., C]
        soft = _weighted_mean(self._soft_loss(logits, y["teacher_logits"]), y["soft_weights"])
        hard = _weighted_mean(self._hard_loss(logits, y["labels"]), y["label_weights"])
        return (1.0 - self.label_weight) * soft + self.label_weight * hard

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "student": keras.saving.serialize_keras_object(self.student),
            "temperature": self.temperature,
            "label_weight": self.label_weight,
            "regression": self.regression,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        return cls(**config)
