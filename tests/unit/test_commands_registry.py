"""The command registry: every subcommand is declared once, by its own module, cheaply."""

from __future__ import annotations

import subprocess
import sys

from orchestrator.cli import build_parser
from orchestrator.commands.registry import discover


def test_every_command_is_declared_once_under_a_declared_command() -> None:
    commands = discover()
    names = [c.name for c in commands]
    assert len(names) == len(set(names))
    groups = {c.name for c in commands if c.run is None}
    assert all(c.parent in set(names) for c in commands if c.parent)
    assert groups == {"dispatch", "flows", "ledger", "policy", "sandbox fault"}
    # a group is never a leaf: something is declared under each one
    assert groups <= {c.parent for c in commands}


def test_a_command_that_runs_may_hold_subcommands() -> None:
    parser = build_parser()
    assert parser.parse_args(["sandbox"]).run_command.name == "sandbox"
    args = parser.parse_args(["sandbox", "fault", "list"])
    assert args.run_command.name == "sandbox fault list"
    assert args.command_prog == "continuum sandbox fault list"


def test_top_level_help_order_follows_order() -> None:
    top = [c.name for c in discover() if not c.parent]
    expected = ["up", "worker", "sandbox", "topics", "send", "bench", "ledger", "queues"]
    expected += ["dispatch"]
    expected += ["flows", "policy"]
    assert top == expected


def test_each_leaf_parses_to_its_own_command() -> None:
    args = build_parser().parse_args(["flows", "schema"])
    assert args.run_command.name == "flows schema"
    assert args.command_prog == "continuum flows schema"


def test_building_the_parser_imports_no_heavy_module() -> None:
    heavy = ("faststream", "aiokafka", "asyncpg", "uvicorn", "orchestrator.service")
    code = (
        "import sys; from orchestrator.cli import build_parser; build_parser(); "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
