"""Raw-string serving modules of the task models, and their SavedModel export.

Every module is a `TaskServingModule` (see `serving_base`): `serving_default`
takes `tf.string` [None] inputs, `preprocess` and `token_ids` expose the
preprocessing and the id-level Keras model. Modules here:

- `ClassifierServing`: a `BertClassifier` → `logits`, `probabilities`,
  `label_ids`, `label_names`; a `BertRegressor` → `predictions`. Input `text`,
  or `text_a` and `text_b` for pairs.
- `TokenClassifierServing`: a `BertTokenClassifier` → per word-piece tokens,
  labels and character offsets, and entities grouped into spans.
- `EmbedderServing`: a `BertEmbedder` or `BertEncoder` → `pooled_output`
  and `mean_pooled`.
- `FillMaskServing`: a `BertPretrainer` → top-k tokens at each `[MASK]`.

`build_serving_module(model_dir)` makes the right module from a folder written
by `bert_tf.tasks.common.save_task`; `save_serving_module(module, dir)` writes
it as a SavedModel (temporary folder, op audit, swap).

Dimension legend: B = batch, S = sequence, C = classes, N = regression
outputs, H = hidden, T = word-pieces per text (padded), E = entities per text
(padded), M = `[MASK]` tokens per text (padded), K = top-k, V = vocabulary.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Dict, Optional, Sequence

from absl import logging
import keras
import tensorflow as tf

from bert_tf.export import op_audit
from bert_tf.export.serving_base import TaskServingModule
from bert_tf.export.serving_base import same_batch
from bert_tf.export.serving_base import strings_spec
from bert_tf.text.tokenizer import BertTokenizer

__all__ = [
    "ClassifierServing",
    "build_serving_module",
    "save_serving_module",
]


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
      truncator: `"round_robin"` or `"waterfall"`.
      vocab_path: a `vocab.txt` to attach as the asset, or None.
    """

    task = "classify"

    def __init__(
        self,
        model: keras.Model,
        tokenizer: BertTokenizer,
        seq_length: int,
        labels: Optional[Sequence[str]] = None,
        pair: bool = False,
        regression: bool = False,
        truncator: str = "round_robin",
        vocab_path: Optional[str] = None,
    ):
        super().__init__(model, tokenizer, seq_length, truncator, vocab_path)
        self.pair = bool(pair)
        self.regression = bool(regression)
        num_outputs = int(model.outputs[0].shape[-1])
        if not self.regression:
            if labels is None:
                labels = [str(i) for i in range(num_outputs)]
            labels = [str(label) for label in labels]
            if len(labels) != num_outputs:
                raise ValueError(
                    f"{len(labels)} labels {labels!r} for a model with "
                    f"{num_outputs} classes"
                )
        self.labels = None if labels is None else list(labels)
        if self.pair:
            self.serve = tf.function(
                self._serve_pair,
                input_signature=[
                    strings_spec("text_a"),
                    strings_spec("text_b"),
                ],
            )
        else:
            self.serve = tf.function(
                self._serve_single, input_signature=[strings_spec("text")]
            )

    def _serve_single(self, text):
        return self._outputs(self.pack(text))

    def _serve_pair(self, text_a, text_b):
        # Checked first so that unequal batches fail here, with a clear
        # message, not inside the packer's ragged ops.
        with tf.control_dependencies(
            [same_batch(text_a, text_b, "text_a and text_b")]
        ):
            text_a = tf.identity(text_a)
            text_b = tf.identity(text_b)
        return self._outputs(self.pack(text_a, text_b))

    def _outputs(self, inputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
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
    def from_task(cls, task, vocab_path: Optional[str] = None):
        """From a `bert_tf.tasks.common.TaskFiles` of a "classify" folder."""
        info = task.info
        return cls(
            task.model,
            task.tokenizer,
            int(info["max_seq_length"]),
            labels=info.get("labels"),
            pair=len(info.get("text_columns") or ["text"]) == 2,
            regression=bool(info.get("regression", False)),
            truncator=info.get("truncator", "round_robin"),
            vocab_path=vocab_path,
        )


# ---------------------------------------------------------------------------
# Factory and export.


def build_serving_module(
    model_dir: str, vocab_path_for_asset: bool = True
) -> TaskServingModule:
    """The serving module of a fine-tuned model folder (`save_task`'s layout).

    Args:
      model_dir: a folder with `model.keras`, `vocab.txt` and `task.json`.
      vocab_path_for_asset: attach the folder's `vocab.txt` as the
        SavedModel's asset (`assets/vocab.txt`).

    Returns:
      A `ClassifierServing`, `TokenClassifierServing` or (SQuAD)
      `bert_tf.export.squad_serving.SpanLabelerServing`.

    Raises:
      FileNotFoundError: the folder or one of its files is missing.
      ValueError: `task.json` names a task that has no serving module.
    """
    from bert_tf.tasks import common  # pylint: disable=g-import-not-at-top

    info = common.load_task_info(model_dir)
    task_name = info.get("task")
    if task_name not in _TASKS:
        raise ValueError(
            f"{os.path.join(model_dir, common.TASK_FILE)}: task "
            f"{task_name!r} has no serving module; expected one of "
            f"{sorted(_TASKS)}"
        )
    task = common.load_task(model_dir)
    vocab_path = (
        os.path.join(model_dir, common.VOCAB_FILE)
        if vocab_path_for_asset
        else None
    )
    if task_name == "squad":
        from bert_tf.export import (  # pylint: disable=g-import-not-at-top
            squad_serving,
        )

        return squad_serving.SpanLabelerServing.from_task(
            task, vocab_path=vocab_path
        )
    return _TASKS[task_name].from_task(task, vocab_path=vocab_path)


def save_serving_module(
    module: tf.Module, export_dir: str, overwrite: bool = False
) -> Dict[str, list]:
    """Writes a serving module as a SavedModel and audits its ops.

    The SavedModel is written to a temporary folder next to `export_dir`,
    audited, then moved into place, so a failure leaves any existing
    `export_dir` as it was.

    Args:
      module: a `TaskServingModule` (anything with `signatures()`), or a
        loaded SavedModel's root object (re-exported with its signatures).
      export_dir: the SavedModel folder to create.
      overwrite: replace an existing `export_dir`; without it an existing
        folder is an error and is left untouched.

    Returns:
      The op audit: `{"core": [...], "tf_text": [...]}`.

    Raises:
      FileExistsError: `export_dir` exists and `overwrite` is False.
      ValueError: the graph needs an op outside core TF and TF-Text.
    """
    export_dir = export_dir.rstrip("/") or export_dir
    if tf.io.gfile.exists(export_dir) and not overwrite:
        raise FileExistsError(
            f"{export_dir} exists; pass overwrite=True to replace it"
        )
    if hasattr(module, "signatures") and callable(module.signatures):
        signatures = module.signatures()
    else:
        signatures = dict(getattr(module, "signatures", {}))
    parent = os.path.dirname(os.path.abspath(export_dir))
    os.makedirs(parent, exist_ok=True)
    base = os.path.basename(export_dir)
    tmp_dir = tempfile.mkdtemp(prefix=f".{base}.tmp-", dir=parent)
    old_dir = None
    try:
        tf.saved_model.save(module, tmp_dir, signatures=signatures)
        audit = op_audit.audit_saved_model(tmp_dir)
        if tf.io.gfile.exists(export_dir):
            # Move the old export aside first: a failed rename keeps it.
            old_dir = tempfile.mkdtemp(prefix=f".{base}.old-", dir=parent)
            os.rmdir(old_dir)
            os.rename(export_dir, old_dir)
        os.rename(tmp_dir, export_dir)
    except BaseException:
        if (
            old_dir
            and os.path.exists(old_dir)
            and not os.path.exists(export_dir)
        ):
            os.rename(old_dir, export_dir)
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    if old_dir:
        shutil.rmtree(old_dir, ignore_errors=True)
    logging.info(
        "exported %s to %s; TF-Text ops: %s",
        type(module).__name__,
        export_dir,
        audit["tf_text"],
    )
    return audit


_TASKS = {
    "classify": ClassifierServing,
    "squad": None,  # bert_tf.export.squad_serving, imported when needed.
}
