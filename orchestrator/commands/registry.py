"""The ``continuum`` subcommands, each declared by the module that does its work.

A command module exports ``COMMANDS``, a tuple of :class:`Command`; :func:`discover` imports every
module of this package and collects them, and :mod:`orchestrator.cli` builds the parser and
dispatches from that list. Command modules stay cheap to import: heavy imports (Kafka, Redis,
PostgreSQL, the service, the flow engine) go inside their run functions.

Example::

    COMMANDS = (
        Command("topics", "create every topic Continuum uses (idempotent)",
                ("continuum topics",), run=run_topics, order=40),
    )
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from orchestrator.settings import Settings

Run = Callable[[Settings, argparse.Namespace], int | Awaitable[int]]


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """For a command that takes no arguments."""


@dataclass(frozen=True, slots=True)
class Command:
    """One subcommand: ``name`` is its path (``"flows validate"``); no ``run`` makes it a group.
    A command that runs may hold subcommands too (``sandbox`` runs the sandbox, ``sandbox
    fault ...`` talks to it): given none, it runs itself.

    ``order`` sorts siblings in ``--help``. ``client`` commands talk to a running service and
    find the one ``continuum up`` started here. ``check`` returns a usage problem argparse
    cannot see, or ``None``.
    """

    name: str
    about: str
    examples: tuple[str, ...]
    order: int
    run: Run | None = None
    add_arguments: Callable[[argparse.ArgumentParser], None] = no_arguments
    client: bool = False
    check: Callable[[argparse.Namespace], str | None] | None = None

    @property
    def parent(self) -> str:
        """The group this command belongs to (``""`` at the top level)."""
        return self.name.rpartition(" ")[0]

    @property
    def leaf(self) -> str:
        """The last word of the name, as typed on the command line."""
        return self.name.rpartition(" ")[2]


def discover() -> list[Command]:
    """Every command of every module of this package, ordered by (depth, order)."""
    found: list[Command] = []
    for info in pkgutil.iter_modules(_package_path()):
        module = importlib.import_module(f"{__package__}.{info.name}")
        found.extend(getattr(module, "COMMANDS", ()))
    names = [c.name for c in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AssertionError(f"commands declared twice: {', '.join(duplicates)}")
    return sorted(found, key=lambda c: (c.name.count(" "), c.order, c.name))


def _package_path() -> list[str]:
    package = importlib.import_module(str(__package__))
    return list(package.__path__)
