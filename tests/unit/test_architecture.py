"""Purity of ``orchestrator/engine/``, ``orchestrator/policy/``, ``orchestrator/routing/`` and
the vocabulary they share, and independence of ``channels/``, checked with ``ast``.

The cheap version of Temporal's workflow sandbox, as an allowlist: a pure module may import
only the modules listed here (and the pure layers below it: ``tests/unit/test_layers.py``), and
may not read files, ask the wall clock, hash with the per-process seed, import by name or write
module globals, even through an allowed module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "orchestrator" / "engine"
POLICY = ROOT / "orchestrator" / "policy"
ROUTING = ROOT / "orchestrator" / "routing"
CHANNELS = ROOT / "channels"
SHARED = ("media", "vocabulary", "durations", "yamldoc", "errors", "provenance")
"""The vocabulary the pure layers share (``orchestrator/<name>.py``)."""

ALLOWED_IMPORTS = (
    "__future__", "abc", "collections", "contextlib", "dataclasses", "datetime", "enum",
    "functools", "hashlib", "heapq", "html", "itertools", "math", "operator", "pathlib", "re",
    "string", "typing", "unicodedata", "urllib.parse", "zoneinfo",
    "cronsim", "jinja2", "markupsafe", "phonenumbers", "pydantic", "pydantic_core", "yaml",
    "orchestrator.engine", "orchestrator.policy", "orchestrator.routing",
    *(f"orchestrator.{name}" for name in SHARED),
)  # fmt: skip
"""Pure standard library and libraries, and the pure layers (which may point only down)."""
FORBIDDEN_CALLS = (
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today",
    "datetime.date.today", "time.time", "open", "hash", "__import__", "globals", "eval", "exec",
    "input", "print",
)  # fmt: skip
"""Calls a pure module never makes (``hash`` is seeded per process: use ``hashlib``)."""
FORBIDDEN_METHODS = ("read_text", "read_bytes", "write_text", "write_bytes", "open", "unlink")
"""Methods that do I/O whatever their object (``Path.read_text``): reading is the callers'."""


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


def _allowed(name: str) -> bool:
    return any(_is_under(name, ok) for ok in ALLOWED_IMPORTS) or name == "orchestrator"


def _methods(tree: ast.AST) -> list[str]:
    return [
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in FORBIDDEN_METHODS
    ]


def violations(source: str, module: str = "snippet", is_package: bool = False) -> list[str]:
    """What makes ``source`` impure: imports off the allowlist, forbidden calls and methods,
    writes to module globals."""
    tree = ast.parse(source)
    bad = [
        f"imports {name}"
        for name in imported_modules(source, module, is_package)
        if not _allowed(name)
    ]
    bad += [f"calls {name}" for name in called_names(source) if name in FORBIDDEN_CALLS]
    bad += [f"calls .{name}()" for name in _methods(tree)]
    bad += [
        f"writes the global {name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Global)
        for name in node.names
    ]
    return bad


PURE_FILES = (
    sorted(ENGINE.rglob("*.py"))
    + sorted(POLICY.rglob("*.py"))
    + sorted(ROUTING.rglob("*.py"))
    + [ROOT / "orchestrator" / f"{name}.py" for name in SHARED]
)
ENGINE_FILES = PURE_FILES  # the name the tests below have always used
CHANNEL_FILES = sorted(CHANNELS.rglob("*.py"))


def test_the_pure_modules_and_channels_are_found() -> None:
    assert ENGINE / "decide.py" in PURE_FILES
    assert POLICY / "loader.py" in PURE_FILES  # it parses text: no exemption by name
    assert ROUTING / "board.py" in PURE_FILES
    assert all(path.is_file() for path in PURE_FILES)
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
        "import hashlib\nimport re\nfrom pathlib import Path\n"
        "from orchestrator.engine.model import Context\n"
        "def f(ctx: Context) -> datetime:\n    return ctx.now + timedelta(seconds=1)\n"
    )
    assert violations(source) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("import timeit_like\n", ["imports timeit_like"], id="not-allowed"),
        pytest.param("import asyncpg\n", ["imports asyncpg"], id="a-database-driver"),
        pytest.param(
            "from orchestrator import settings\n",
            ["imports orchestrator.settings"],
            id="settings",
        ),
        pytest.param("x = open('f').read()\n", ["calls open"], id="open"),
        pytest.param(
            "from pathlib import Path\nx = Path('f').read_text()\n",
            ["calls .read_text()"],
            id="path-read",
        ),
        pytest.param("x = hash('a')\n", ["calls hash"], id="seeded-hash"),
        pytest.param("m = __import__('os')\n", ["calls __import__"], id="import-by-name"),
        pytest.param("import importlib\n", ["imports importlib"], id="importlib"),
        pytest.param("import secrets\n", ["imports secrets"], id="secrets"),
        pytest.param("import threading\n", ["imports threading"], id="threading"),
        pytest.param("import prometheus_client\n", ["imports prometheus_client"], id="metrics"),
        pytest.param(
            "from datetime import datetime\nx = datetime.today()\n",
            ["calls datetime.datetime.today"],
            id="datetime-today",
        ),
        pytest.param(
            "X = None\ndef f():\n    global X\n    X = 1\n",
            ["writes the global X"],
            id="global-write",
        ),
    ],
)
def test_the_allowlist_refuses(source: str, expected: list[str]) -> None:
    assert violations(source) == expected
