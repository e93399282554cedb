"""`fit_resumable`: `Model.fit` for a fixed number of steps that survives
being killed.

The run is `num_train_steps` batches long and is cut into "epochs" of
`save_checkpoints_steps` batches, each ending with a checkpoint (and an
evaluation when validation data is given). A run started again with the same
arguments restores the latest checkpoint (weights, optimizer state, step)
and asks `dataset_fn` for data positioned after the batches already trained,
so it continues where it stopped rather than from zero.

Example:

>>> import numpy as np, tempfile
>>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
>>> model.compile("sgd", "mse")
>>> data = tf.data.Dataset.from_tensors((np.ones((2, 3)), np.ones((2, 1))))
>>> folder = tempfile.mkdtemp()
>>> run = lambda: fit_resumable(model, lambda skip: data.repeat(), 6,
...                             folder, save_checkpoints_steps=2, verbose=0)
>>> run().trained_steps, run().trained_steps  # the second run has no work
(6, 0)
"""

import math
from collections.abc import Callable

import keras
import tensorflow as tf
from absl import logging

from bert_tf.training.callbacks import LearningRateLogger, StepCheckpoint

__all__ = ["fit_resumable", "FitResult"]


class FitResult:
    """What `fit_resumable` did.

    Attributes:
        history: the `keras.callbacks.History` of this run (None if there
            was nothing left to train).
        initial_step: batches already trained when the run started.
        trained_steps: batches trained by this run.
        final_step: batches trained in all.
    """

    def __init__(self, history, initial_step: int, final_step: int):
        self.history = history
        self.initial_step = initial_step
        self.final_step = final_step
        self.trained_steps = final_step - initial_step


def fit_resumable(
    model: keras.Model,
    dataset_fn: Callable[[int], tf.data.Dataset],
    num_train_steps: int,
    checkpoint_dir: str,
    save_checkpoints_steps: int = 1000,
    validation_data: tf.data.Dataset | None = None,
    validation_steps: int | None = None,
    tensorboard_dir: str | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    max_checkpoints_to_keep: int = 3,
    strategy: tf.distribute.Strategy | None = None,
    verbose="auto",
) -> FitResult:
    """Fits `model` for `num_train_steps` batches with resumable checkpoints.

    Args:
        model: a compiled Keras model (compiled under `strategy.scope()`
            when distributed).
        dataset_fn: `dataset_fn(skip)` returns an endless dataset of
            `(x, y)` batches that starts after `skip` batches already
            trained (e.g. `ds.skip(skip)`, or a seed derived from `skip`).
        num_train_steps: batches of the whole run, resumed parts included.
        checkpoint_dir: folder of the step checkpoints (created).
        save_checkpoints_steps: checkpoint (and evaluate) every this many
            batches.
        validation_data: optional held-out dataset, evaluated at every
            checkpoint.
        validation_steps: batches of `validation_data` per evaluation.
        tensorboard_dir: TensorBoard log folder; None disables.
        callbacks: more Keras callbacks.
        max_checkpoints_to_keep: checkpoints kept in `checkpoint_dir`.
        strategy: the distribution strategy the model was built under.
        verbose: `Model.fit` verbosity (progress bar by default).

    Returns:
        A `FitResult`.
    """
    if int(num_train_steps) < 1:
        raise ValueError(f"num_train_steps must be >= 1, got {num_train_steps!r}")
    if int(save_checkpoints_steps) < 1:
        raise ValueError(f"save_checkpoints_steps must be >= 1, got {save_checkpoints_steps!r}")
    if model.optimizer is None:
        raise ValueError("compile the model before fit_resumable")
    strategy = strategy or tf.distribute.get_strategy()
    checkpoint = StepCheckpoint(
        checkpoint_dir,
        save_checkpoints_steps,
        max_to_keep=max_checkpoints_to_keep,
        stop_at_step=num_train_steps,
        strategy=strategy,
    )
    with strategy.scope():
        initial_step = checkpoint.restore(model)
    if initial_step >= num_train_steps:
        logging.info(
            "%s holds a checkpoint after %d steps >= num_train_steps=%d: nothing to train",
            checkpoint_dir,
            initial_step,
            num_train_steps,
        )
        return FitResult(None, initial_step, initial_step)
    steps_per_epoch = int(save_checkpoints_steps)
    all_callbacks = [checkpoint, LearningRateLogger()]
    if tensorboard_dir:
        all_callbacks.append(keras.callbacks.TensorBoard(tensorboard_dir, update_freq="epoch"))
    all_callbacks += list(callbacks or [])
    logging.info("Training steps %d..%d", initial_step + 1, num_train_steps)
    history = model.fit(
        dataset_fn(initial_step),
        epochs=math.ceil(num_train_steps / steps_per_epoch),
        initial_epoch=initial_step // steps_per_epoch,
        steps_per_epoch=steps_per_epoch,
        validation_data=validation_data,
        validation_steps=validation_steps,
        callbacks=all_callbacks,
        verbose=verbose,
        shuffle=False,
    )  # The dataset shuffles (and Keras warns otherwise).
    return FitResult(history, initial_step, checkpoint.step)
