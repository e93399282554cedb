"""Compatibility names: re-exports the raw-string task serving modules.

The modules live one per task (`classifier_serving`, `token_classifier_serving`,
`embedder_serving`, `fill_mask_serving`, `squad_serving`), the factory in
`registry` and the SavedModel writer in `saved_model_writer`. This module
keeps the names that README.md, BUILD.md and older code import from
`bert_tf.export.task_serving` working:

- `ClassifierServing`, `TokenClassifierServing`, `EmbedderServing`,
  `FillMaskServing`: `TaskServingModule`s (see `serving_base`);
- `build_serving_module(model_dir)`: the module of a fine-tuned model folder;
- `save_serving_module(module, dir)`: writes it as an audited SavedModel.
"""

from bert_tf.export.classifier_serving import ClassifierServing
from bert_tf.export.embedder_serving import EmbedderServing
from bert_tf.export.fill_mask_serving import FillMaskServing
from bert_tf.export.registry import build_serving_module
from bert_tf.export.saved_model_writer import save_serving_module
from bert_tf.export.token_classifier_serving import TokenClassifierServing

__all__ = [
    "ClassifierServing",
    "EmbedderServing",
    "FillMaskServing",
    "TokenClassifierServing",
    "build_serving_module",
    "save_serving_module",
]
