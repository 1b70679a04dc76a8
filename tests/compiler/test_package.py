"""vta.compiler as a package: every module imports, no import cycle (function-level and
type-checking imports included), and the kernel compiler's passes only import earlier
ones."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "compiler"
PACKAGE = "vta.compiler"


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the package (``__init__`` = the package)."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join((PACKAGE, *parts))] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Modules of the package that ``name`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            # ``from pkg import mod`` imports the module ``pkg.mod``.
            found.update(f"{base}.{alias.name}" for alias in node.names
                         if f"{base}.{alias.name}" in MODULES)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name):
    importlib.import_module(name)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# The kernel compiler's back half, in pass order: a module may import only modules of a
# lower rank (the cost model sits beside the search, below it; the requantization's
# parameters below the epilogue, the zero-point geometry beside the workload; the replay
# estimate runs emitted streams, above emit).
PASS_RANKS = {"errors": 0, "windows": 0, "tile_program": 0, "requant": 0.5, "packing": 1,
              "epilogue": 1, "workload": 2, "zero_point": 2.5, "cost_model": 3, "search": 4,
              "lower": 4, "emit": 5, "replay": 6, "ops": 7}


def test_passes_only_import_earlier_passes():
    bad = []
    for mod, rank in PASS_RANKS.items():
        for dep in GRAPH[f"{PACKAGE}.{mod}"]:
            short = dep.removeprefix(f"{PACKAGE}.")
            if short in PASS_RANKS and PASS_RANKS[short] >= rank:
                bad.append(f"{mod} imports {short}")
            elif short not in PASS_RANKS:
                bad.append(f"{mod} imports {short}, outside the kernel compiler")
    assert bad == []
