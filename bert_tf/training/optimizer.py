"""BERT's optimizers and learning-rate schedules, from Keras 3 parts.

- `WarmUp`: linear warm-up from 0 to `initial_learning_rate`, then any
  Keras schedule (google-research/bert `optimization.py`).
- `create_learning_rate_schedule`: warm-up then linear (BERT), polynomial or
  no decay, over `num_train_steps`.
- `create_optimizer`: AdamW (BERT's recipe: no weight decay on LayerNorm
  weights and biases, epsilon 1e-6) or LAMB, with gradient clipping by
  global norm and optional gradient accumulation, all Keras 3 features.

Schedules count batches: Keras evaluates a schedule at the optimizer's raw
iteration counter, which advances every batch even with gradient
accumulation.

Example:

>>> schedule = create_learning_rate_schedule(1e-4, num_train_steps=100,
...                                          num_warmup_steps=10)
>>> round(float(schedule(5)), 8), round(float(schedule(55)), 8)
(5e-05, 4.5e-05)
>>> opt = create_optimizer(schedule, optimizer="adamw", weight_decay=0.01)
>>> type(opt).__name__
'AdamW'
"""

from collections.abc import Sequence

import keras
import tensorflow as tf

__all__ = [
    "NO_WEIGHT_DECAY",
    "OPTIMIZERS",
    "DECAYS",
    "WarmUp",
    "create_learning_rate_schedule",
    "create_optimizer",
]

# Variable-name patterns kept out of weight decay (regular expressions
# searched in `variable.name`): LayerNorm scales and offsets, and biases.
NO_WEIGHT_DECAY = ("gamma", "beta", "bias", "LayerNorm", "layer_norm")
OPTIMIZERS = ("adamw", "lamb", "adam")
DECAYS = ("linear", "polynomial", "constant")


@keras.saving.register_keras_serializable(package="bert_tf")
class WarmUp(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then another schedule.

    For `step < warmup_steps` the rate is
    `initial_learning_rate * step / warmup_steps`; afterwards it is
    `decay_schedule(step)` (evaluated at the global step, as BERT does).

    Args:
        initial_learning_rate: float. The rate reached at the end of warm-up.
        warmup_steps: int. Length of the warm-up; 0 disables it.
        decay_schedule: a `LearningRateSchedule`, a float, or a serialized
            schedule (dict).
        name: str. Name scope of the ops.

    Example:

    >>> decay = keras.optimizers.schedules.PolynomialDecay(1e-3, 100, 0.0)
    >>> schedule = WarmUp(1e-3, warmup_steps=10, decay_schedule=decay)
    >>> [round(float(schedule(s)), 6) for s in (0, 5, 10, 100)]
    [0.0, 0.0005, 0.0009, 0.0]
    """

    def __init__(
        self,
        initial_learning_rate: float,
        warmup_steps: int,
        decay_schedule: keras.optimizers.schedules.LearningRateSchedule | float | dict,
        name: str = "WarmUp",
    ):
        super().__init__()
        if isinstance(decay_schedule, dict):
            decay_schedule = keras.optimizers.schedules.deserialize(decay_schedule)
        if int(warmup_steps) < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps!r}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.decay_schedule = decay_schedule
        self.name = name

    def __call__(self, step):
        with tf.name_scope(self.name):
            step = tf.cast(step, tf.float32)
            if callable(self.decay_schedule):
                after = tf.cast(self.decay_schedule(step), tf.float32)
            else:
                after = tf.constant(float(self.decay_schedule), tf.float32)
            if not self.warmup_steps:
                return after
            warm = self.initial_learning_rate * step / float(self.warmup_steps)
            return tf.where(step < float(self.warmup_steps), warm, after)

    def get_config(self):
        decay = self.decay_schedule
        if isinstance(decay, keras.optimizers.schedules.LearningRateSchedule):
            decay = keras.optimizers.schedules.serialize(decay)
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "warmup_steps": self.warmup_steps,
            "decay_schedule": decay,
            "name": self.name,
        }


def create_learning_rate_schedule(
    learning_rate: float,
    num_train_steps: int,
    num_warmup_steps: int = 0,
    decay: str = "linear",
    end_learning_rate: float = 0.0,
    power: float = 1.0,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Warm-up then decay to `end_learning_rate` at `num_train_steps`.

    Args:
        learning_rate: float. Peak rate.
        num_train_steps: int. Steps (batches) of the whole run.
        num_warmup_steps: int. Linear warm-up steps.
        decay: "linear" (BERT), "polynomial" (with `power`) or "constant".
        end_learning_rate: float. Rate at the last step.
        power: float. Exponent of the polynomial decay.

    Returns:
        A `LearningRateSchedule` (a `WarmUp` when warming up).

    Example:

    >>> s = create_learning_rate_schedule(1.0, 10, decay="polynomial", power=2.0)
    >>> round(float(s(5)), 4)
    0.25
    """
    if decay not in DECAYS:
        raise ValueError(f"decay must be one of {DECAYS}, got {decay!r}")
    if int(num_train_steps) < 1:
        raise ValueError(f"num_train_steps must be >= 1, got {num_train_steps!r}")
    if not 0 <= int(num_warmup_steps) <= int(num_train_steps):
        raise ValueError(
            f"num_warmup_steps must be in [0, num_train_steps="
            f"{num_train_steps}], got {num_warmup_steps!r}"
        )
    if decay == "constant":
        after = keras.optimizers.schedules.PolynomialDecay(
            learning_rate, num_train_steps, learning_rate, power=1.0
        )
    else:
        after = keras.optimizers.schedules.PolynomialDecay(
            learning_rate,
            num_train_steps,
            end_learning_rate,
            power=1.0 if decay == "linear" else power,
        )
    if not num_warmup_steps:
        return after
    return WarmUp(learning_rate, num_warmup_steps, after)


def create_optimizer(
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
    num_train_steps: int | None = None,
    num_warmup_steps: int = 0,
    optimizer: str = "adamw",
    weight_decay: float = 0.01,
    decay: str = "linear",
    end_learning_rate: float = 0.0,
    power: float = 1.0,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-6,
    global_clipnorm: float | None = 1.0,
    gradient_accumulation_steps: int | None = None,
    exclude_from_weight_decay: Sequence[str] = NO_WEIGHT_DECAY,
) -> keras.optimizers.Optimizer:
    """BERT's optimizer: AdamW or LAMB with warm-up, decay and clipping.

    Args:
        learning_rate: peak rate (float, scheduled with `num_train_steps`)
            or a ready `LearningRateSchedule`.
        num_train_steps: steps (batches) of the run; required with a float
            `learning_rate`.
        num_warmup_steps: linear warm-up steps.
        optimizer: "adamw" (BERT), "lamb" (large batches) or "adam" (no
            weight decay).
        weight_decay: decoupled weight decay rate.
        decay, end_learning_rate, power: see `create_learning_rate_schedule`.
        beta_1, beta_2, epsilon: Adam moments; epsilon 1e-6 as BERT.
        global_clipnorm: clip gradients to this global norm (BERT: 1.0);
            None disables.
        gradient_accumulation_steps: average the gradients of this many
            batches (>= 2) per update, for large effective batches on small
            machines; None disables.
        exclude_from_weight_decay: regular expressions of variable names
            without weight decay.

    Returns:
        A Keras 3 optimizer.

    Example:

    >>> opt = create_optimizer(1e-3, num_train_steps=10, optimizer="lamb")
    >>> type(opt).__name__
    'Lamb'
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        if num_train_steps is None:
            raise ValueError("num_train_steps is required with a float learning_rate")
        learning_rate = create_learning_rate_schedule(
            float(learning_rate), num_train_steps, num_warmup_steps, decay, end_learning_rate, power
        )
    common = dict(
        learning_rate=learning_rate,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        global_clipnorm=global_clipnorm,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )
    if optimizer == "adamw":
        opt = keras.optimizers.AdamW(weight_decay=weight_decay, **common)
    elif optimizer == "lamb":
        opt = keras.optimizers.Lamb(weight_decay=weight_decay, **common)
    else:
        opt = keras.optimizers.Adam(**common)
    if opt.weight_decay and exclude_from_weight_decay:
        opt.exclude_from_weight_decay(var_names=list(exclude_from_weight_decay))
    return opt
