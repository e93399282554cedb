"""Classification data: CSV / TSV (header row) or JSON lines, one or two text columns.

Every problem in a file (a missing column, an empty text, a label that is
not a number for a regressor) is reported with the file, line and column.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass
class ClassificationData:
    """Examples read from a file.

    Attributes:
        texts: one tuple of 1 or 2 strings per example.
        labels: label strings (classification), floats (regression), or
            None when the file has no label column.
        lines: the line (CSV/TSV: the record's first line) of each example.
        source: the file name, for error messages.
    """

    texts: list
    labels: list | None
    lines: list
    source: str = ""


def _file_format(path: str, file_format: str | None) -> str:
    if file_format:
        fmt = file_format.lower()
    else:
        ext = os.path.splitext(path)[1].lower()
        fmt = {
            ".csv": "csv",
            ".tsv": "tsv",
            ".jsonl": "jsonl",
            ".json": "jsonl",
            ".txt": "tsv",
        }.get(ext, "")
    if fmt not in ("csv", "tsv", "jsonl"):
        raise ValueError(
            f"{path}: cannot tell the format (use .csv, .tsv or .jsonl, or "
            f"file_format=csv|tsv|jsonl), got {file_format or fmt!r}"
        )
    return fmt


def _rows(path: str, fmt: str):
    """Yields (line number, {column: value}) of a CSV/TSV/JSONL file."""
    try:
        f = open(path, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise FileNotFoundError(f"data file not found: {path!r}") from None
    with f:
        try:
            if fmt == "jsonl":
                for number, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise ValueError(
                            f"{path}:{number}:{e.colno}: malformed JSON line "
                            f"({e.msg}): {line.strip()[:80]!r}"
                        ) from None
                    if not isinstance(row, dict):
                        raise ValueError(
                            f"{path}:{number}: expected a JSON object, got {type(row).__name__}"
                        )
                    yield number, row, None
                return
            reader = csv.reader(f, delimiter="," if fmt == "csv" else "\t")
            try:
                header = next(reader)
            except StopIteration:
                raise ValueError(
                    f"{path}: the file is empty (a header row naming the columns is needed)"
                ) from None
            header = [h.strip() for h in header]
            while True:
                previous = reader.line_num
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    raise ValueError(
                        f"{path}:{previous + 1}: malformed {fmt.upper()} line ({e})"
                    ) from None
                number = previous + 1
                if not fields or fields == [""]:
                    continue
                if len(fields) != len(header):
                    raise ValueError(
                        f"{path}:{number}: malformed {fmt.upper()} line: "
                        f"{len(fields)} fields, but the header has "
                        f"{len(header)} ({', '.join(header)})"
                    )
                yield number, dict(zip(header, fields)), header
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not UTF-8 text ({e})") from None


def read_classification_file(
    path: str,
    text_columns: Sequence[str],
    label_column: str | None = "label",
    regression: bool = False,
    file_format: str | None = None,
    require_labels: bool = True,
) -> ClassificationData:
    """Reads single texts or pairs with their labels.

    Args:
        path: a `.csv`, `.tsv` (header row) or `.jsonl` file.
        text_columns: one or two column names (`["sentence1", "sentence2"]`).
        label_column: the label column; None (or, with
            `require_labels=False`, a column the file lacks) reads no labels.
        regression: labels are numbers.
        file_format: "csv", "tsv" or "jsonl"; None guesses from the extension.
        require_labels: raise if `label_column` is missing.

    Returns:
        A `ClassificationData`.

    Raises:
        FileNotFoundError: naming the file.
        ValueError: naming the file, line and column of a malformed line, a
            missing column, a missing or non-numeric label.
    """
    if isinstance(text_columns, str):
        text_columns = [c.strip() for c in text_columns.split(",") if c.strip()]
    text_columns = list(text_columns)
    if not 1 <= len(text_columns) <= 2:
        raise ValueError(f"text_columns must name 1 or 2 columns, got {text_columns!r}")
    fmt = _file_format(path, file_format)
    texts, labels, lines = [], [], []
    use_labels = label_column is not None
    checked = False
    for number, row, header in _rows(path, fmt):
        if not checked or header is None:
            # CSV/TSV: the header is checked once; JSONL: every object.
            columns = ", ".join(map(repr, row))
            where = f"{path}:1 (header)" if header else f"{path}:{number}"
            for column in text_columns:
                if column not in row:
                    raise ValueError(
                        f"{where}: no text column {column!r}; the columns are {columns}"
                    )
            if use_labels and label_column not in row:
                if require_labels:
                    raise ValueError(
                        f"{where}: no label column {label_column!r}; the columns are {columns}"
                    )
                if not checked:
                    use_labels = False
            checked = True
        example = []
        for column in text_columns:
            value = row[column]
            if not isinstance(value, str):
                raise ValueError(f"{path}:{number}: column {column!r} must be text, got {value!r}")
            example.append(value)
        texts.append(tuple(example))
        lines.append(number)
        if use_labels:
            value = row.get(label_column)
            if regression:
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"{path}:{number}: column {label_column!r}: {value!r} is not a number"
                    ) from None
                if not np.isfinite(value):
                    raise ValueError(
                        f"{path}:{number}: column {label_column!r}: {value!r} is not finite"
                    )
            else:
                if value is None or isinstance(value, (dict, list)) or (str(value).strip() == ""):
                    raise ValueError(
                        f"{path}:{number}: column {label_column!r}: missing "
                        f"or empty label {value!r}"
                    )
                value = str(value).strip()
            labels.append(value)
    if not texts:
        raise ValueError(f"{path}: no examples")
    return ClassificationData(texts, labels if use_labels else None, lines, path)


def label_list(labels: Sequence[str]) -> list:
    """The distinct labels in id order: numeric labels numerically, else sorted.

    >>> label_list(["10", "2", "2"])
    ['2', '10']
    """
    distinct = sorted(set(labels))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return distinct


def encode_labels(data: ClassificationData, labels: Sequence[str]) -> np.ndarray:
    """Label ids of `data.labels`; an unseen label raises, naming file and line.

    >>> d = ClassificationData([("a",), ("b",)], ["x", "y"], [2, 3], "f.tsv")
    >>> encode_labels(d, ["x", "y"]).tolist()
    [0, 1]
    """
    index = {label: i for i, label in enumerate(labels)}
    ids = np.zeros(len(data.labels), np.int32)
    for i, (label, line) in enumerate(zip(data.labels, data.lines)):
        if label not in index:
            raise ValueError(
                f"{data.source}:{line}: label {label!r} was not seen in "
                f"training; the model knows {', '.join(map(repr, labels))}"
            )
        ids[i] = index[label]
    return ids
