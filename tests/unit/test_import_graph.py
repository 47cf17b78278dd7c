"""The package's import graph: layers that point one way.

Every module of ``src/churnmodel`` is parsed with :mod:`ast` (nothing is imported); every
``import churnmodel...`` / ``from churnmodel... import ...`` statement counts, at module level,
inside functions or under ``if TYPE_CHECKING:`` alike, so a cycle cannot hide in a late
import. ``from churnmodel.pkg import name`` points at ``churnmodel.pkg.name`` when that is a
module, else at ``churnmodel.pkg``. The parent packages a Python import runs implicitly
(``churnmodel/__init__.py`` for every module) are not edges: they re-export, they are not
dependencies.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "churnmodel"
# The bottom layer: modules that import nothing from churnmodel (or only each other).
LOW_LAYER = {"churnmodel.errors", "churnmodel.contracts"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module ``name`` is, or the closest module (package) above it."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix
                       for a in node.names]
        for t in targets:
            if t == PACKAGE or t.startswith(PACKAGE + "."):
                r = _resolve(t, modules)
                if r and r != module:
                    found.add(r)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or ``None``.

    >>> find_cycle({"a": {"b"}, "b": {"a"}})
    ['a', 'b', 'a']
    >>> find_cycle({"a": {"b"}, "b": set()}) is None
    True
    """
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_sees_the_whole_package_and_late_imports(graph):
    assert {"churnmodel.config", "churnmodel.cli", "churnmodel.scoring",
            "churnmodel.modeling.model"} <= set(graph)
    assert "churnmodel.scoring" in graph["churnmodel.cli"]  # imported inside a command function


def test_no_module_imports_itself_through_others(graph):
    packages_only = {m: {d for d in deps if d != PACKAGE} for m, deps in graph.items() if m != PACKAGE}
    cycle = find_cycle(packages_only)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_config_depends_only_on_the_bottom_layer(graph):
    assert graph["churnmodel.config"] <= LOW_LAYER, graph["churnmodel.config"] - LOW_LAYER
    for low in LOW_LAYER:
        assert graph[low] <= LOW_LAYER, (low, graph[low])


def test_scoring_uses_explain_and_explain_does_not_use_scoring(graph):
    assert "churnmodel.explain" in graph["churnmodel.scoring"]
    assert "churnmodel.scoring" not in graph["churnmodel.explain"]
