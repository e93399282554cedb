"""The serving module of each fine-tuned task, and the factory that builds one.

`SERVING_MODULES` maps the `task` of a model folder's `task.json` (written by
`bert_tf.tasks.common.save_task`) to its `TaskServingModule` class:

- `"classify"`: `ClassifierServing` (`classifier_serving`);
- `"ner"`: `TokenClassifierServing` (`token_classifier_serving`);
- `"squad"`: `SpanLabelerServing` (`squad_serving`).

`build_serving_module(model_dir)` loads the folder and returns its module
(each class's `from_task`). The embedder and fill-mask modules are built from
an encoder or pretrainer, not from a task folder, so they are not listed.
"""

from __future__ import annotations

import dataclasses
import os

from bert_tf.export import precision as precision_lib
from bert_tf.export.classifier_serving import ClassifierServing
from bert_tf.export.serving_base import TaskServingModule
from bert_tf.export.squad_serving import SpanLabelerServing
from bert_tf.export.token_classifier_serving import TokenClassifierServing
from bert_tf.tasks import common

__all__ = ["SERVING_MODULES", "build_serving_module"]

SERVING_MODULES: dict[str, type[TaskServingModule]] = {
    "classify": ClassifierServing,
    "ner": TokenClassifierServing,
    "squad": SpanLabelerServing,
}


def build_serving_module(
    model_dir: str, vocab_path_for_asset: bool = True, precision: str = "float32"
) -> TaskServingModule:
    """The serving module of a fine-tuned model folder (`save_task`'s layout).

    Args:
      model_dir: a folder with `model.keras`, `vocab.txt` and `task.json`.
      vocab_path_for_asset: attach the folder's `vocab.txt` as the
        SavedModel's asset (`assets/vocab.txt`).
      precision: the model's compute dtype, "float32" or "bfloat16"
        (`precision.with_precision`); outputs are float32 either way.

    Returns:
      A `ClassifierServing`, `TokenClassifierServing` or (SQuAD)
      `SpanLabelerServing`, as `SERVING_MODULES` maps the folder's task.

    Raises:
      FileNotFoundError: the folder or one of its files is missing.
      ValueError: `task.json` names a task that has no serving module, or
        an unknown precision.
    """
    precision = precision_lib.check_precision(precision)
    task_name = common.load_task_info(model_dir, SERVING_MODULES, "serving module")["task"]
    task = common.load_task(model_dir)
    if precision != "float32":
        task = dataclasses.replace(task, model=precision_lib.with_precision(task.model, precision))
    vocab_path = os.path.join(model_dir, common.VOCAB_FILE) if vocab_path_for_asset else None
    return SERVING_MODULES[task_name].from_task(task, vocab_path=vocab_path)
