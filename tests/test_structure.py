"""The shape of the source, read from its AST: imports go one way, files stay small.

- No import cycle among bert_tf's modules, counting every import anywhere in
  a module (an import inside a function that would close a cycle is a cycle
  postponed, not avoided).
- No bert_tf import inside a function in the library: the command-line
  modules (`bert_tf/cli`) are the one layer above everything, and may import
  a subcommand's library late.
- No file in bert_tf/ longer than `MAX_LINES`.
"""

import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bert_tf")
MAX_LINES = 500


def _module_name(path):
    rel = os.path.relpath(path, os.path.dirname(PACKAGE))[: -len(".py")]
    parts = rel.split(os.sep)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources():
    for dirpath, _, filenames in os.walk(PACKAGE):
        for name in filenames:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                yield _module_name(path), path


MODULES = dict(_sources())


def _imports(name, path):
    """(imported bert_tf module, line, inside a function?) for each import."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            targets = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from a import b` imports a.b when b is a module, else a.
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                    for a in child.names
                ]
            for target in targets:
                if target.split(".")[0] == "bert_tf" and target in MODULES:
                    found.append((target, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_modules_are_found():
    assert "bert_tf.encoder" in MODULES and "bert_tf.export.serving" in MODULES


def test_no_import_cycle():
    edges = {name: {t for t, _, _ in imports if t != name} for name, imports in GRAPH.items()}
    state, stack = {}, []

    def walk(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            walk(node)


def test_library_imports_at_module_level():
    late = [
        f"{MODULES[name]}:{line} imports {target}"
        for name, imports in GRAPH.items()
        if not name.startswith("bert_tf.cli")
        for target, line, in_function in imports
        if in_function
    ]
    assert late == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_file_is_short(name):
    with open(MODULES[name], encoding="utf-8") as f:
        lines = sum(1 for _ in f)
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines (at most {MAX_LINES})"
