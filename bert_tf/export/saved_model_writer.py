"""Writes a serving module as a SavedModel: temporary folder, op audit, swap.

`save_serving_module(module, export_dir)` is the one writer of every export:
the preprocessing SavedModel (`preprocessing.export_preprocessing`), the task
modules (`registry.build_serving_module`) and the TF Serving layout
(`serving.export_for_serving`). The SavedModel is written next to
`export_dir`, audited (`op_audit.audit_saved_model`: core TF and TF-Text ops
only), then moved into place, so a failed export leaves an existing folder
as it was.
"""

from __future__ import annotations

import os
import shutil

import tensorflow as tf
from absl import logging

from bert_tf import files
from bert_tf.export import op_audit

__all__ = ["save_serving_module"]


def save_serving_module(
    module: tf.Module, export_dir: str, overwrite: bool = False
) -> dict[str, list]:
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
    files.refuse_existing(export_dir, overwrite)
    if hasattr(module, "signatures") and callable(module.signatures):
        signatures = module.signatures()
    else:
        signatures = dict(getattr(module, "signatures", {}))
    parent = os.path.dirname(os.path.abspath(export_dir))
    tmp_dir = files.make_temp_dir(parent, prefix=f".{os.path.basename(export_dir)}.tmp-")
    try:
        tf.saved_model.save(module, tmp_dir, signatures=signatures)
        audit = op_audit.audit_saved_model(tmp_dir)
        files.replace_dir(tmp_dir, export_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    logging.info(
        "exported %s to %s; TF-Text ops: %s",
        type(module).__name__,
        export_dir,
        audit["tf_text"],
    )
    return audit
