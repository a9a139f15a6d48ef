"""Purity of ``orchestrator/engine/`` and independence of ``channels/``, checked with ``ast``.

The cheap version of Temporal's workflow sandbox: the engine may not import I/O, clocks or
randomness, and may not call the wall clock even through an allowed module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "orchestrator" / "engine"
CHANNELS = ROOT / "channels"

FORBIDDEN_IMPORTS = (
    "asyncio", "httpx", "redis", "aiokafka", "faststream", "uuid", "random", "time", "socket",
    "os", "subprocess", "channels", "orchestrator.workers", "orchestrator.state",
    "orchestrator.service",
)  # fmt: skip
FORBIDDEN_CALLS = (
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.date.today", "time.time",
)  # fmt: skip


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def imported_modules(source: str, module: str = "snippet", is_package: bool = False) -> list[str]:
    """Every module an import statement in ``source`` names (``from a import b`` gives both
    ``a`` and ``a.b``, since ``b`` may be a submodule)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            found.append(base)
            found.extend(f"{base}.{alias.name}" for alias in node.names)
    return found


def _is_under(name: str, banned: str) -> bool:
    return name == banned or name.startswith(banned + ".")


def _aliases(tree: ast.AST) -> dict[str, str]:
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = (
                    a.name if a.asname else a.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _dotted(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        inner = _dotted(expr.value)
        return f"{inner}.{expr.attr}" if inner else None
    return None


def called_names(source: str) -> list[str]:
    """The fully qualified name of every call in ``source`` whose callee is a dotted name."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (name := _dotted(node.func)):
            head, _, rest = name.partition(".")
            found.append(".".join(filter(None, [aliases.get(head, head), rest])))
    return found


def violations(source: str, module: str = "snippet", is_package: bool = False) -> list[str]:
    """What makes ``source`` impure: forbidden imports and wall-clock calls."""
    bad = [
        f"imports {name}"
        for name in imported_modules(source, module, is_package)
        if any(_is_under(name, banned) for banned in FORBIDDEN_IMPORTS)
    ]
    bad += [f"calls {name}" for name in called_names(source) if name in FORBIDDEN_CALLS]
    return bad


POLICY = ROOT / "orchestrator" / "policy"
# The policy's pure rules (loader reads a file; send_time is pure too): every module but loader.
ENGINE_FILES = sorted(ENGINE.rglob("*.py")) + sorted(
    p for p in POLICY.rglob("*.py") if p.name != "loader.py"
)
CHANNEL_FILES = sorted(CHANNELS.rglob("*.py"))


def test_the_engine_and_channels_are_found() -> None:
    assert ENGINE / "decide.py" in ENGINE_FILES
    assert CHANNELS / "base.py" in CHANNEL_FILES


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_engine_module_is_pure(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert violations(source, _module_name(path), path.name == "__init__.py") == []


@pytest.mark.parametrize("path", CHANNEL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_channels_never_import_orchestrator(path: Path) -> None:
    names = imported_modules(path.read_text(encoding="utf-8"), _module_name(path))
    assert [n for n in names if _is_under(n, "orchestrator")] == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("import random\n", ["imports random"], id="import"),
        pytest.param("import os.path\n", ["imports os.path"], id="submodule"),
        pytest.param("from uuid import uuid4\n", ["imports uuid", "imports uuid.uuid4"], id="from"),
        pytest.param(
            "from orchestrator import workers\n", ["imports orchestrator.workers"], id="from-pkg"
        ),
        pytest.param(
            "from datetime import datetime\nx = datetime.now()\n",
            ["calls datetime.datetime.now"],
            id="datetime-now",
        ),
        pytest.param(
            "import datetime as dt\nx = dt.date.today()\n",
            ["calls datetime.date.today"],
            id="aliased-today",
        ),
        pytest.param(
            "from datetime import datetime as D\nD.utcnow()\n",
            ["calls datetime.datetime.utcnow"],
            id="aliased-utcnow",
        ),
        pytest.param(
            "from time import time\ntime()\n",
            ["imports time", "imports time.time", "calls time.time"],
            id="time",
        ),
    ],
)
def test_checker_reports_impurity(source: str, expected: list[str]) -> None:
    assert violations(source) == expected


def test_checker_resolves_relative_imports() -> None:
    source = "from ..workers import base\nfrom . import decide\n"
    assert violations(source, "orchestrator.engine.flowfile") == [
        "imports orchestrator.workers",
        "imports orchestrator.workers.base",
    ]


def test_checker_accepts_pure_code() -> None:
    source = (
        "from datetime import datetime, timedelta\n"
        "import hashlib\nimport timeit_like\n"
        "from orchestrator.engine.model import Context\n"
        "def f(ctx: Context) -> datetime:\n    return ctx.now + timedelta(seconds=1)\n"
    )
    assert violations(source) == []
