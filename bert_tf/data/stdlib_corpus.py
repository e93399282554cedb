"""Real English text that ships with every Python: the standard library's docstrings.

The corpus is read from the source files of the running interpreter's standard
library with `ast` (nothing is imported, so no module side effects run), in a
fixed order, so the same interpreter always gives the same corpus. It feeds the
tokenizer parity tests, the benchmarks and the quickstart.
"""

import ast
import dataclasses
import functools
import os
import sys
import sysconfig

# Folders that hold tests, vendored code or demo material rather than library
# docstrings.
_SKIPPED_DIRS = frozenset(
    {
        "test",
        "tests",
        "idle_test",
        "site-packages",
        "dist-packages",
        "__pycache__",
        "lib2to3",
        "turtledemo",
        "ensurepip",
        "venv",
    }
)


@dataclasses.dataclass(frozen=True)
class Docstring:
    """One docstring of the standard library.

    Attributes:
      module: dotted module name, e.g. `"email.utils"`.
      package: the top-level package or module, e.g. `"email"`.
      qualname: the documented object within the module (`""` for the module).
      text: the docstring, cleaned with `inspect.cleandoc`.
    """

    module: str
    package: str
    qualname: str
    text: str


def stdlib_dir() -> str:
    """The folder of the running interpreter's pure-Python standard library."""
    return sysconfig.get_paths()["stdlib"]


def _module_files(root: str) -> list[tuple[str, str]]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in _SKIPPED_DIRS and not d.startswith(".")
        )
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            parts = rel[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if not parts or any(not p.isidentifier() for p in parts):
                continue
            if parts[0].startswith("_") or parts[-1].startswith("test"):
                continue
            files.append((".".join(parts), os.path.join(dirpath, name)))
    return files


def _docstrings_of_tree(tree: ast.AST):
    """Yields (qualname, docstring) for a module and its classes and functions."""
    doc = ast.get_docstring(tree)
    if doc:
        yield "", doc
    stack = [("", tree)]
    while stack:
        prefix, node = stack.pop(0)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                doc = ast.get_docstring(child)
                if doc:
                    yield name, doc
                if isinstance(child, ast.ClassDef):
                    stack.append((name + ".", child))


@functools.lru_cache(maxsize=4)
def _load(root: str) -> tuple[Docstring, ...]:
    out = []
    for module, path in _module_files(root):
        try:
            with open(path, "rb") as f:
                tree = ast.parse(f.read(), filename=path)
        except (SyntaxError, ValueError, OSError):
            continue  # A few stdlib files are templates or other encodings.
        for qualname, text in _docstrings_of_tree(tree):
            out.append(Docstring(module, module.split(".")[0], qualname, text))
    return tuple(out)


def docstrings(root: str | None = None) -> list[Docstring]:
    """All docstrings of the standard library, in a fixed order.

    Args:
      root: the standard library folder; defaults to `stdlib_dir()`.

    Returns:
      A list of `Docstring`.

    Example:
    >>> docs = docstrings()
    >>> len(docs) > 1000
    True
    """
    return list(_load(root or stdlib_dir()))


def lines(root: str | None = None) -> list[str]:
    """The non-empty, stripped lines of every docstring, in a fixed order."""
    out = []
    for doc in docstrings(root):
        out.extend(line.strip() for line in doc.text.splitlines() if line.strip())
    return out


def python_version_tag() -> str:
    """A short tag of the interpreter whose corpus this is, e.g. `"3.11.7"`."""
    return ".".join(str(v) for v in sys.version_info[:3])
