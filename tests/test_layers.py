"""The four layers, checked on every import (module level and inside functions, by AST).

models (vocabulary) <- calibration <- vision <- api: a module may import its own layer and the layers below it,
never one above; and no two modules import each other, directly or round a longer loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["models", "calibration", "vision", "api"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules that `path` (module `name`) imports anywhere in its body."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        for t in targets:
            # the longest known module the import names (``from a.b import c`` may name module a.b.c or a name in a.b)
            parts = t.split(".")
            for i in range(len(parts), 0, -1):
                cand = ".".join(parts[:i])
                if cand in known:
                    if cand != name:
                        out.add(cand)
                    break
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(path, name, known) for name, path in mods.items()}


def test_the_four_layers_exist(graph):
    assert {m.split(".")[0] for m in graph} == set(LAYERS)


def test_no_upward_import(graph):
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    upward = sorted(f"{m} -> {t}" for m, ts in graph.items() for t in ts if rank[t.split(".")[0]] > rank[m.split(".")[0]])
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_package_of(a: str, b: str) -> bool:
    return b.startswith(a + ".")


def test_no_import_cycles(graph):
    # a package's __init__ re-exporting its submodules is not a cycle of design; ignore package -> own submodule edges
    g = {m: {t for t in ts if not _is_package_of(m, t)} for m, ts in graph.items()}
    cycles = _cycles(g)
    assert not cycles, "modules that import each other: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_check_sees_an_upward_import_and_a_cycle(tmp_path):
    """The walker itself: an import inside a function and a relative import are both found."""
    src = "def f():\n    from api.cli import app\nfrom .b import x\n"
    p = tmp_path / "a.py"
    p.write_text(src)
    found = _imports(p, "vision.a", {"api.cli", "vision.b", "vision.a"})
    assert found == {"api.cli", "vision.b"}
    assert _cycles({"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": set()}) == [["x", "y", "z"]]


def test_vision_tests_import_nothing_from_api():
    bad = []
    for p in (ROOT / "tests" / "vision").rglob("*.py"):
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad += [f"{p.relative_to(ROOT)}: {m}" for m in mods if m == "api" or m.startswith("api.")]
    assert not bad, "tests of vision import api:\n" + "\n".join(bad)
