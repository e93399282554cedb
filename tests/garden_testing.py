"""Model Garden (tf-models-official) as a reference in tests, where installed."""

import pytest

MISSING = (
    "Model Garden (tf-models-official, the `garden` extra) is not installed: it pins "
    "TF 2.20 (tensorflow~=2.20.0), so it is not part of `test`; "
    "`pip install -e .[garden]` on TF 2.20 runs these tests"
)


def import_garden(name: str):
    """`official.<...>` module `name`, or a skip that says why it is missing."""
    return pytest.importorskip(name, reason=MISSING)
