"""The ``continuum`` command: the composition root of every process.

Settings are built here, once, from ``CONTINUUM_*`` variables, and passed down. Usage errors and
bad settings print one clear line and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn, TypeAlias

from pydantic import ValidationError
from pydantic_settings import SettingsError

from orchestrator import commands, logs
from orchestrator.commands.registry import Command, discover
from orchestrator.errors import ConfigError
from orchestrator.settings import (
    Settings,
    describe_error,
    unknown_variables,
    variables,
)

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (and exit 2), pointing at ``--help`` for the details."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


Subparsers: TypeAlias = "argparse._SubParsersAction[_Parser]"


def _command(sub: Subparsers, name: str, about: str, *examples: str) -> _Parser:
    """A subcommand whose ``--help`` starts with ``about`` and ends with an example or two."""
    return sub.add_parser(
        name,
        help=about,
        description=about[0].upper() + about[1:] + ".",
        epilog="example:\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its options."""
    p = _Parser(
        prog="continuum",
        description="Omnichannel interaction orchestration. Settings come from CONTINUUM_* "
        "environment variables or a .env file (see docs/configuration.md).",
        epilog="example:\n  continuum up\n  continuum send sms --from +15551230001 'hello'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    parents: dict[str, Subparsers] = {"": sub}
    declared = discover()
    holders = {command.parent for command in declared}
    for command in declared:
        parser = _command(parents[command.parent], command.leaf, command.about, *command.examples)
        command.add_arguments(parser)
        if command.run is not None:
            parser.set_defaults(run_command=command, command_prog=parser.prog)
        # A group needs a subcommand; a command that runs may hold some (`sandbox fault`),
        # whose own defaults then win when one is given.
        if command.run is None or command.name in holders:
            dest = command.name.replace(" ", "_") + "_command"
            parents[command.name] = parser.add_subparsers(
                dest=dest, required=command.run is None, metavar="SUBCOMMAND"
            )
    return p


def _version() -> str:
    try:
        return metadata.version("continuum")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _check_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors argparse cannot see: an empty time range, or the command's own check."""
    command: Command = args.run_command
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    problem = None
    if since is not None and until is not None and since >= until:
        problem = f"--since {since.isoformat()} is not before --until {until.isoformat()}"
    elif command.check is not None:
        problem = command.check(args)
    if problem:
        prog = args.command_prog
        parser.exit(EXIT_USAGE, f"{prog}: error: {problem} (see {prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, build settings, run the command; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_usage(parser, args)
    unknown = unknown_variables(variables(os.environ))
    if unknown:
        print(f"continuum: unknown setting: {'; '.join(unknown)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"continuum: {describe_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except SettingsError as exc:
        field = re.search(r'field "(\w+)"', str(exc))
        var = f"CONTINUUM_{field.group(1).upper()}" if field else "CONTINUUM_*"
        print(
            f"continuum: invalid setting {var}: not valid JSON for a settings section",
            file=sys.stderr,
        )
        return EXIT_USAGE
    logs.configure(settings.log_level, settings.log_format)
    try:
        return asyncio.run(commands.run(args.run_command, args, settings))
    except ConfigError as exc:
        print(f"continuum: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`continuum ledger query | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
