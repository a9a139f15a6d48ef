"""What each ``continuum`` subcommand does: one module each, declaring its ``COMMANDS``.

:mod:`orchestrator.commands.registry` collects them; :mod:`orchestrator.cli` parses and dispatches.
"""

from __future__ import annotations

import argparse
import inspect
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from orchestrator.settings import Settings

if TYPE_CHECKING:
    from orchestrator.commands.registry import Command


def parse_time(value: str) -> datetime:
    """An ISO 8601 time for ``--since``/``--until``; naive times are UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def positive_int(value: str) -> int:
    """A whole number of at least 1, for ``--limit``."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value!r}")
    return number


async def run(command: Command, args: argparse.Namespace, settings: Settings) -> int:
    """Run a parsed command; a ``client`` command first finds the service started here."""
    from orchestrator.commands import addresses

    if command.client:
        settings = addresses.located(settings)
    if command.run is None:  # pragma: no cover - argparse requires a group's subcommand
        raise AssertionError(f"{command.name} is a group, not a command")
    result = command.run(settings, args)
    return await result if inspect.isawaitable(result) else result
