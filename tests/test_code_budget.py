"""The package stays readable: modules of at most 350 lines, short functions, and an acyclic
import graph (lazy imports inside functions count: a cycle hidden by a lazy import is still a
cycle). Measured on the tracked sources of `dice/`."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 350
MAX_FUNCTION_P90 = 40


def _sources() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "dice"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()  # fmt: skip
    return [ROOT / name for name in listed if name.endswith(".py")]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the package modules it imports (any import statement, at any depth)."""
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a list of nodes (first = last), or None (iterative DFS)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_find_cycle_on_hand_made_graphs():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": set(), "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]


def test_import_graph_sees_lazy_imports(tmp_path):
    (tmp_path / "x.py").write_text("def f():\n    from pkg.y import g\n")
    (tmp_path / "y.py").write_text("import pkg.x\n")
    graph = import_graph({"pkg.x": tmp_path / "x.py", "pkg.y": tmp_path / "y.py"})
    assert graph == {"pkg.x": {"pkg.y"}, "pkg.y": {"pkg.x"}}


def test_package_import_graph_is_acyclic():
    files = {_module(path): path for path in _sources()}
    assert find_cycle(import_graph(files)) is None


def test_no_module_over_the_line_budget():
    long = {str(p.relative_to(ROOT)): n for p in _sources()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}  # fmt: skip
    assert long == {}


def test_functions_are_short():
    lengths = [node.end_lineno - node.lineno + 1
               for path in _sources() for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]  # fmt: skip
    assert len(lengths) > 100
    assert np.percentile(lengths, 90) <= MAX_FUNCTION_P90
