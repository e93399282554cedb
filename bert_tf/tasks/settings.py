"""The fine-tuning settings every task shares, in one validated value.

`FinetuneSettings` holds the knobs of the original BERT scripts that
`finetune_classifier`, `finetune_ner`, `finetune_squad` and `distill` all
take (batch sizes, learning rate and schedule, epochs, dropout, XLA, seed).
Each of those functions accepts `settings=` and/or the same names as keyword
arguments; `finetune_settings` merges the two and rejects unknown names the
way a Python call does.

Example:

>>> s = finetune_settings("finetune_ner", None, {"learning_rate": 3e-5})
>>> s.learning_rate, s.train_batch_size
(3e-05, 32)
>>> finetune_settings("finetune_ner", None, {"lr": 1.0})
Traceback (most recent call last):
...
TypeError: finetune_ner() got an unexpected keyword argument 'lr'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["FinetuneSettings", "finetune_settings"]


@dataclasses.dataclass(frozen=True)
class FinetuneSettings:
    """Fine-tuning knobs shared by the tasks (the original BERT flags).

    Every field is checked when the value is made: a bad one raises a
    one-line ValueError naming it and its value.

    Attributes:
        max_seq_length: packed length in word-pieces (>= 2).
        train_batch_size: training batch size (>= 1).
        eval_batch_size: validation batch size (>= 1).
        learning_rate: peak AdamW learning rate (> 0).
        num_train_epochs: training epochs (> 0); a fraction rounds up, the
            schedule ends where the fraction does.
        warmup_proportion: fraction of the steps of linear warm-up, in [0, 1].
        weight_decay: AdamW decoupled weight decay (>= 0).
        dropout: dropout before the task's output layer, in [0, 1).
        jit_compile: XLA-compile the train step.
        seed: random seed (weights, dropout, shuffling).

    Example:

    >>> s = FinetuneSettings(learning_rate=2e-5)
    >>> s.learning_rate, s.num_train_epochs
    (2e-05, 3.0)
    >>> FinetuneSettings(learning_rate=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate must be > 0, got -1.0
    """

    max_seq_length: int = 128
    train_batch_size: int = 32
    eval_batch_size: int = 64
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    weight_decay: float = 0.01
    dropout: float = 0.1
    jit_compile: bool = False
    seed: int = 0

    def __post_init__(self):
        checks = (
            ("max_seq_length", self.max_seq_length >= 2, ">= 2"),
            ("train_batch_size", self.train_batch_size >= 1, ">= 1"),
            ("eval_batch_size", self.eval_batch_size >= 1, ">= 1"),
            ("learning_rate", self.learning_rate > 0, "> 0"),
            ("num_train_epochs", self.num_train_epochs > 0, "> 0"),
            ("warmup_proportion", 0 <= self.warmup_proportion <= 1, "in [0, 1]"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("dropout", 0 <= self.dropout < 1, "in [0, 1)"),
        )
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"{name} must be {rule}, got {getattr(self, name)!r}")


def finetune_settings(
    caller: str,
    settings: FinetuneSettings | None,
    overrides: Mapping[str, Any],
    defaults: FinetuneSettings | None = None,
    unused: Collection[str] = (),
) -> FinetuneSettings:
    """`settings` (else `defaults`, else `FinetuneSettings()`) with `overrides`.

    Args:
        caller: the function's name, for the error of an unknown keyword.
        settings: the caller's `settings=` argument, or None.
        overrides: the caller's other keyword arguments: field values.
        defaults: the caller's own defaults, used when `settings` is None.
        unused: fields the caller does not take as keywords (e.g. `dropout`
            of a head without dropout): passing one is an unknown keyword.

    Raises:
        TypeError: a keyword that is not a field (or is `unused`), worded as
            Python words it.
        ValueError: a field value out of range (see `FinetuneSettings`).
    """
    fields = {f.name for f in dataclasses.fields(FinetuneSettings)} - set(unused)
    for name in overrides:
        if name not in fields:
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}")
    if settings is not None and not isinstance(settings, FinetuneSettings):
        raise TypeError(
            f"{caller}() settings must be a FinetuneSettings, got {type(settings).__name__}"
        )
    return dataclasses.replace(settings or defaults or FinetuneSettings(), **overrides)
