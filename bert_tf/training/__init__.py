"""Training with `Model.fit`: optimizers and schedules, losses and metrics,
distribution strategies, resumable fitting, and BERT pre-training.

The general pieces (`optimizer`, `losses`, `distribute`, `callbacks`,
`loop`) serve any bert_tf task; `pretrain` puts them together for masked-LM
+ next-sentence pre-training.
"""

from bert_tf.training.callbacks import LearningRateLogger
from bert_tf.training.callbacks import StepCheckpoint
from bert_tf.training.distribute import STRATEGIES
from bert_tf.training.distribute import get_strategy
from bert_tf.training.distribute import set_mixed_precision
from bert_tf.training.losses import MaskedSparseCategoricalAccuracy
from bert_tf.training.losses import MaskedSparseCategoricalCrossentropy
from bert_tf.training.loop import fit_resumable
from bert_tf.training.optimizer import WarmUp
from bert_tf.training.optimizer import create_learning_rate_schedule
from bert_tf.training.optimizer import create_optimizer
