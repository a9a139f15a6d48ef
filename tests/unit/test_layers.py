"""The layers point one way, and no module imports itself back.

From the bottom: the shared vocabulary (media, purposes and stages, durations, YAML with lines,
errors, provenance), then the contact policy (``orchestrator/policy``), then the flow engine
(``orchestrator/engine``), then contact-centre routing (``orchestrator/routing``), then
everything that does I/O (executor, workers, state, API, CLI). Each layer imports only its own
and the layers below it, whether the import is at the top of a module, in a function or only
for type checking. And no two modules import each other at
import time (a cycle among top-level imports).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_architecture import SHARED, imported_modules

ROOT = Path(__file__).resolve().parents[2]
LAYERS = (
    tuple(f"orchestrator.{name}" for name in SHARED),
    ("orchestrator.policy",),
    ("orchestrator.engine",),
    ("orchestrator.routing",),
)
"""Bottom first; whatever is in none of them is above them all."""


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    _name(p): p
    for base in ("orchestrator", "channels")
    for p in sorted((ROOT / base).rglob("*.py"))
    if "__pycache__" not in p.parts
}


def layer_of(module: str) -> int:
    """The layer ``module`` is in (``len(LAYERS)`` above them all)."""
    for level, roots in enumerate(LAYERS):
        if any(module == r or module.startswith(r + ".") for r in roots):
            return level
    return len(LAYERS)


def _ours(names: list[str], module: str) -> set[str]:
    """Our modules among ``names``, but the top packages (``from orchestrator import x`` names
    the package only to reach its module ``x``) and ``module`` itself."""
    return {n for n in names if n in MODULES and n != module and "." in n}


def every_import(module: str) -> set[str]:
    """Every module of ours ``module`` imports, anywhere in it."""
    path = MODULES[module]
    names = imported_modules(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    return _ours(names, module)


def _top_level(tree: ast.Module) -> Iterator[ast.stmt]:
    """The import statements run at import time: the module's own, inside top-level ``if``
    (but not ``if TYPE_CHECKING``), ``try`` and class bodies; not those inside functions."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.If):
            test = node.test
            if getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == (
                "TYPE_CHECKING"
            ):
                pending.extend(node.orelse)
                continue
            pending.extend([*node.body, *node.orelse])
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                pending.extend(handler.body)
        elif isinstance(node, ast.ClassDef):
            pending.extend(node.body)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def import_time_imports(module: str) -> set[str]:
    """The modules of ours that importing ``module`` imports."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = ast.Module(body=list(_top_level(tree)), type_ignores=[])
    return _ours(imported_modules(ast.unparse(body), module, path.name == "__init__.py"), module)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_layers_are_found() -> None:
    assert layer_of("orchestrator.vocabulary") == 0
    assert layer_of("orchestrator.policy.keywords") == 1
    assert layer_of("orchestrator.engine.decide") == 2
    assert layer_of("orchestrator.routing.board") == 3
    assert layer_of("orchestrator.workers.dispatcher") == 4
    assert all(m in MODULES for roots in LAYERS for m in roots)


@pytest.mark.parametrize(
    "module", [m for m in MODULES if layer_of(m) < len(LAYERS)], ids=lambda m: m
)
def test_a_layer_imports_only_itself_and_the_layers_below(module: str) -> None:
    level = layer_of(module)
    assert sorted(n for n in every_import(module) if layer_of(n) > level) == []


def test_no_module_imports_itself_back_at_import_time() -> None:
    graph = {m: import_time_imports(m) for m in MODULES}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle_and_a_chain_is_none() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_an_upward_import_in_a_function_or_for_types_counts() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from orchestrator.engine.session import Session\n"
        "def f():\n    from orchestrator.workers import base\n"
    )
    names = set(imported_modules(source, "orchestrator.policy.x"))
    assert {"orchestrator.engine.session", "orchestrator.workers.base"} <= names
