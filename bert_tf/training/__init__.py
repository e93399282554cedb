"""Training with `Model.fit`: optimizers and schedules, losses and metrics,
distribution strategies, resumable fitting, and BERT pre-training.

The general pieces (`optimizer`, `losses`, `distribute`, `callbacks`,
`loop`) serve any bert_tf task; `pretrain` puts them together for masked-LM
+ next-sentence pre-training.
"""

from bert_tf.training.callbacks import LearningRateLogger, StepCheckpoint
from bert_tf.training.distribute import STRATEGIES, get_strategy, set_mixed_precision
from bert_tf.training.loop import fit_resumable
from bert_tf.training.losses import (
    MaskedSparseCategoricalAccuracy,
    MaskedSparseCategoricalCrossentropy,
)
from bert_tf.training.optimizer import WarmUp, create_learning_rate_schedule, create_optimizer

__all__ = [
    "STRATEGIES",
    "LearningRateLogger",
    "MaskedSparseCategoricalAccuracy",
    "MaskedSparseCategoricalCrossentropy",
    "StepCheckpoint",
    "WarmUp",
    "create_learning_rate_schedule",
    "create_optimizer",
    "fit_resumable",
    "get_strategy",
    "set_mixed_precision",
]
