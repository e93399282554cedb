"""The colab/ notebooks are valid nbformat 4 and run, cell by cell.

Each notebook's code cells are joined into one script (shell `!` and magic
`%` lines dropped: they are Colab-only) and run in a fresh interpreter with
`BERT_TF_NOTEBOOK_SMOKE=1`, which shrinks steps and sizes, in a temporary
folder. A failing cell fails the test, naming the notebook and its output.
"""

import glob
import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(REPO, "colab", "*.ipynb")))
# What each notebook must print when it ran to the end.
EXPECTED = {
    "quickstart.ipynb": ["TF-IDF + logistic", "tf_text"],
    "finetune_classifier.ipynb": ["best epoch", "macro_f1"],
    "distill.ipynb": ["test accuracy: teacher", "student:"],
}


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _code(notebook) -> str:
    cells = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("!", "%"))]
        cells.append("\n".join(lines))
    return "\n\n".join(cells) + "\n"


def test_the_notebooks_are_there():
    assert {os.path.basename(p) for p in NOTEBOOKS} == set(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_is_valid_nbformat_4(path):
    notebook = _load(path)
    assert notebook["nbformat"] == 4
    assert notebook["metadata"]["kernelspec"]["language"] == "python"
    for cell in notebook["cells"]:
        assert cell["cell_type"] in ("code", "markdown")
        assert isinstance(cell["source"], list)
        if cell["cell_type"] == "code":
            # Committed without outputs: what runs is what CI runs.
            assert cell["outputs"] == [] and cell["execution_count"] is None
    try:
        import nbformat
    except ImportError:
        return
    nbformat.validate(nbformat.reads(json.dumps(notebook), as_version=4))


def install_cell(notebook) -> str:
    """The code cell that installs bert_tf on Colab."""
    cells = [
        "".join(c["source"])
        for c in notebook["cells"]
        if c["cell_type"] == "code" and "BERT_TF_SOURCE" in "".join(c["source"])
    ]
    assert len(cells) == 1, "one install cell per notebook"
    return cells[0]


def test_install_cells_are_one_and_need_only_a_url():
    """Both notebooks install the same way; the user changes one string.

    CI's Colab environment (.ci/run) runs this very cell with the string set
    to the wheel it built, on Colab's preinstalled set.
    """
    cells = {install_cell(_load(p)) for p in NOTEBOOKS}
    assert len(cells) == 1
    (cell,) = cells
    assert len(re.findall(r"^BERT_TF_SOURCE = \"[^\"]+\"", cell, re.M)) == 1
    # Nothing that would replace Colab's TensorFlow (a restart, keras-hub#1321).
    assert "--upgrade" not in cell and "tensorflow" not in cell


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, tmp_path):
    script = tmp_path / "notebook.py"
    script.write_text(_code(_load(path)), encoding="utf-8")
    env = dict(
        os.environ,
        BERT_TF_NOTEBOOK_SMOKE="1",
        BERT_TF_NOTEBOOK_DIR=str(tmp_path / "work"),
        CUDA_VISIBLE_DEVICES="",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1",
    )
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    name = os.path.basename(path)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    for text in EXPECTED[name]:
        assert text in proc.stdout, f"{name}: {text!r} not printed"
