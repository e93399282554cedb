"""Callbacks for long runs: step checkpoints with resume, learning-rate logs.

`StepCheckpoint` saves the model, the optimizer (moments, iteration counter,
loss scale) and the number of batches trained with a
`tf.train.CheckpointManager` every `save_steps` batches and at the end of
training, and restores the latest one before training. In a multi-worker job
every worker saves (the variables are mirrored) but only the chief keeps its
files; the others write to a scratch folder that is deleted.

`LearningRateLogger` adds the current learning rate to the logs of every
batch and epoch, so the progress bar, `History` and `TensorBoard` show it.
"""

import os
import shutil

import keras
import tensorflow as tf
from absl import logging

from bert_tf.training import distribute

__all__ = ["StepCheckpoint", "LearningRateLogger", "current_learning_rate"]


def current_learning_rate(optimizer) -> float:
    """The rate the optimizer uses at its current iteration."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return float(keras.ops.convert_to_numpy(inner.learning_rate))


class LearningRateLogger(keras.callbacks.Callback):
    """Writes `learning_rate` into the batch and epoch logs.

    Put it before `TensorBoard` / `ProgbarLogger` in the callback list.
    """

    def on_train_batch_end(self, batch, logs=None):
        if logs is not None:
            logs["learning_rate"] = current_learning_rate(self.model.optimizer)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = current_learning_rate(self.model.optimizer)


class StepCheckpoint(keras.callbacks.Callback):
    """Checkpoints every `save_steps` batches; `restore()` resumes.

    Args:
        directory: checkpoint folder (`ckpt-<step>` files). Existing
            checkpoints are restored, never deleted beyond `max_to_keep`.
        save_steps: save every this many batches.
        max_to_keep: checkpoints kept.
        stop_at_step: end training (`model.stop_training`) after this many
            batches in all (None: never).
        strategy: the `tf.distribute.Strategy` in use (chief detection).

    Attributes:
        step: batches trained so far, restored ones included.
    """

    def __init__(
        self,
        directory: str,
        save_steps: int,
        max_to_keep: int = 3,
        stop_at_step: int | None = None,
        strategy: tf.distribute.Strategy | None = None,
    ):
        super().__init__()
        if int(save_steps) < 1:
            raise ValueError(f"save_steps must be >= 1, got {save_steps!r}")
        self.directory = directory
        self.save_steps = int(save_steps)
        self.max_to_keep = int(max_to_keep)
        self.stop_at_step = stop_at_step
        self.strategy = strategy or tf.distribute.get_strategy()
        self.step = 0
        self._epoch_start = 0
        self._saved_step = None
        self._manager = None
        self._step_var = None

    # -- setup ------------------------------------------------------------
    def _write_directory(self) -> str:
        if distribute.is_chief(self.strategy):
            return self.directory
        # Non-chief workers must save too (their variables take part), but
        # into a scratch folder that is removed after each save.
        return os.path.join(self.directory, f".worker-{distribute.worker_index(self.strategy)}")

    def _ensure_manager(self, model):
        if self._manager is not None:
            return
        self._step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="trained_steps")
        checkpoint = tf.train.Checkpoint(
            model=model, optimizer=model.optimizer, trained_steps=self._step_var
        )
        self._manager = tf.train.CheckpointManager(
            checkpoint,
            self._write_directory(),
            max_to_keep=self.max_to_keep,
            step_counter=self._step_var,
            checkpoint_name="ckpt",
        )
        self._restore_from = tf.train.latest_checkpoint(self.directory)

    def restore(self, model: keras.Model) -> int:
        """Restores the latest checkpoint of `directory` into `model`.

        Call after `model.compile()` and inside the strategy scope. Builds
        the optimizer first so its moments are restored too.

        Returns:
            The number of batches already trained (0 without checkpoint).
        """
        self._ensure_manager(model)
        optimizer = model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        if self._restore_from:
            self._manager.checkpoint.restore(self._restore_from).assert_existing_objects_matched()
            self.step = int(self._step_var.numpy())
            self._saved_step = self.step
            logging.info("Restored %s: resuming after %d steps", self._restore_from, self.step)
        return self.step

    # -- saving -----------------------------------------------------------
    def save(self) -> str | None:
        """Saves now (no-op when this step is already saved)."""
        if self._saved_step == self.step:
            return None
        self._step_var.assign(self.step)
        path = self._manager.save(checkpoint_number=self.step)
        self._saved_step = self.step
        if not distribute.is_chief(self.strategy):
            shutil.rmtree(self._write_directory(), ignore_errors=True)
            return None
        logging.info("Saved checkpoint %s", path)
        return path

    # -- callback hooks ---------------------------------------------------
    def set_model(self, model):
        super().set_model(model)
        self._ensure_manager(model)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.step

    def on_train_batch_end(self, batch, logs=None):
        # `batch` counts from 0 in each epoch; with steps_per_execution > 1
        # it jumps, so the step is derived from it rather than counted.
        self.step = self._epoch_start + batch + 1
        if self.step % self.save_steps == 0:
            self.save()
        if self.stop_at_step is not None and self.step >= self.stop_at_step:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.save()
