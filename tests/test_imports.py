"""Every module of bert_tf imports in this environment, and says which it is.

Run first in every CI environment (the full suite, Colab's Python 3.13 set,
the newest TensorFlow): a module that breaks on one TF, Keras or keras-hub
release fails here by name, before any longer test.
"""

import importlib
import importlib.metadata
import pkgutil
import subprocess
import sys

import pytest

import bert_tf

MODULES = sorted(info.name for info in pkgutil.walk_packages(bert_tf.__path__, prefix="bert_tf."))


def test_modules_are_found():
    assert "bert_tf.encoder" in MODULES and "bert_tf.cli.export" in MODULES
    assert len(MODULES) > 40


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name):
    importlib.import_module(name)


def test_core_never_imports_model_garden_or_tf_keras():
    # tf-models-official is an extra (it pins TF 2.20) and tf_keras is not our
    # API: importing every module, in a fresh process, pulls in neither.
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'official', 'tf_keras'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_installed_versions_are_supported():
    """The environment is one that setup.cfg admits: TF and TF-Text match."""
    import tensorflow as tf

    tf_minor = tuple(int(x) for x in tf.__version__.split(".")[:2])
    text_version = importlib.metadata.version("tensorflow-text")
    text_minor = tuple(int(x) for x in text_version.split(".")[:2])
    assert tf_minor == text_minor, (tf.__version__, text_version)
    assert (2, 20) <= tf_minor <= (2, 21), tf.__version__
    print(
        "versions:",
        {
            "python": ".".join(map(str, sys.version_info[:3])),
            **{
                name: importlib.metadata.version(name)
                for name in ("tensorflow", "tensorflow-text", "keras", "keras-hub")
            },
        },
    )
