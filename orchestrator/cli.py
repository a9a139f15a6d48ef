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
from orchestrator.errors import ConfigError
from orchestrator.media import MEDIA
from orchestrator.settings import (
    Settings,
    describe_error,
    unknown_variables,
    variables,
)
from orchestrator.supervisor import parse_processes
from orchestrator.workers import WORKERS

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

    u = _command(
        sub,
        "up",
        "run everything: embedded servers (for unset settings), the sandbox provider, every "
        "worker and the API, each in processes of its own, restarted when they exit",
        "continuum up",
        "continuum up --processes decision=2,dispatcher=2",
        "CONTINUUM_API__PORT=18080 continuum up",
    )
    u.add_argument(
        "--processes",
        action="append",
        type=_processes,
        default=[],
        metavar="ROLE=N",
        help="run N processes of a worker role (repeatable or comma-separated; default 1 each)",
    )

    w = _command(
        sub,
        "worker",
        "run workers (and optionally the API) against servers named in the environment",
        "continuum worker --api",
        "continuum worker --only dispatcher",
    )
    w.add_argument(
        "--only",
        default=",".join(WORKERS),
        help="comma-separated workers to run (default: all; none: no worker, with --api the "
        "API alone)",
    )
    w.add_argument("--api", action="store_true", help="also serve the HTTP API")

    _command(sub, "sandbox", "run only the sandbox provider", "continuum sandbox")
    _command(sub, "topics", "create every topic Continuum uses (idempotent)", "continuum topics")

    s = _command(
        sub,
        "send",
        "publish an inbound message, as if a customer wrote in",
        'continuum send sms --from +15551230001 "where is my order"',
        'continuum send sms --from +15551230005 --id SMdup1 "order?"',
    )
    s.add_argument("channel", choices=MEDIA)
    s.add_argument("text", help="the message text")
    s.add_argument("--from", dest="sender", required=True, help="the customer's address")
    s.add_argument("--to", dest="recipient", default=None, help="our address they wrote to")
    s.add_argument(
        "--id",
        dest="event_id",
        default=None,
        help="the provider message id (default: a new one); reuse it to test dedupe",
    )

    _bench(sub)
    _ledger(sub)
    _flows(sub)
    _policy(sub)
    return p


def _bench(sub: Subparsers) -> None:
    """``bench``: the benchmark of docs/performance.md."""
    from orchestrator.commands.bench import add_arguments

    add_arguments(
        _command(
            sub,
            "bench",
            "measure throughput, latency, cost and correctness on embedded (or given) servers",
            "continuum bench --quick",
            "continuum bench --scenario limits,pipeline --messages 50000",
            "CONTINUUM_KAFKA__BOOTSTRAP_SERVERS=... continuum bench --servers",
        )
    )


def _ledger(sub: Subparsers) -> None:
    """``ledger query``: one customer's trail, or every record of a time range."""
    ledger = _command(
        sub,
        "ledger",
        "query the delivery and audit ledger",
        "continuum ledger query --address +15551230001",
    )
    lsub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="SUBCOMMAND")
    q = _command(
        lsub,
        "query",
        "print ledger records in order: one customer's trail, or a time range with filters",
        "continuum ledger query --address +15551230001",
        "continuum ledger query --since 2026-12-01T08:00 --step decision --outcome policy_blocked",
    )
    who = q.add_mutually_exclusive_group()
    who.add_argument("--customer", help="a customer id")
    who.add_argument(
        "--address", help="an address (phone, email...): every customer it resolved to"
    )
    q.add_argument(
        "--since",
        type=commands.parse_time,
        help="ISO 8601 time, inclusive (needed without --customer or --address)",
    )
    q.add_argument("--until", type=commands.parse_time, help="ISO 8601 time, exclusive")
    q.add_argument("--step", help="only this step (inbound_received, decision, ...)")
    q.add_argument("--outcome", help="only this outcome (delivered, policy_blocked, ...)")
    q.add_argument("--flow", help="only records of this flow id")
    q.add_argument("--channel", choices=MEDIA, help="only records on this channel")
    q.add_argument("--format", choices=("table", "jsonl", "csv"), default="table")
    q.add_argument(
        "--limit", type=commands.positive_int, default=10_000, help="records at most (10000)"
    )


def _flows(sub: Subparsers) -> None:
    """``flows validate|test|schema|reload`` and the authoring tools."""
    default = "flows folder (default: CONTINUUM_FLOWS_DIR)"
    flows = _command(
        sub, "flows", "work with flow files", "continuum flows validate", "continuum flows test"
    )
    fsub = flows.add_subparsers(dest="flows_command", required=True, metavar="SUBCOMMAND")
    v = _command(
        fsub,
        "validate",
        "validate every flow in a folder",
        "continuum flows validate",
        "continuum flows validate ./my-flows",
    )
    v.add_argument("folder", nargs="?", default=None, help="default: CONTINUUM_FLOWS_DIR")
    t = _command(
        fsub,
        "test",
        "run scripted conversation tests and report step coverage",
        "continuum flows test",
        "continuum flows test tests/flows/order_status.yaml --flows flows",
    )
    t.add_argument(
        "tests",
        nargs="?",
        default="tests/flows",
        help="a test file or a folder of them (default: tests/flows)",
    )
    t.add_argument("--flows", default=None, help=default)
    _command(
        fsub,
        "schema",
        "print the flow file JSON Schema",
        "continuum flows schema > flow.schema.json",
    )
    _command(
        fsub,
        "reload",
        "make the running service load its flows folder again (POST /v1/flows/reload)",
        "CONTINUUM_API__OPERATOR_TOKEN=... continuum flows reload",
    )
    _flow_tools(fsub, default)


def _policy(sub: Subparsers) -> None:
    """``policy explain``: the contact policy's verdict on one send, rule by rule."""
    pol = _command(
        sub,
        "policy",
        "inspect the central contact policy (flows/policy.yaml)",
        "continuum policy explain --address +15551230001 --purpose marketing --channel sms",
    )
    psub = pol.add_subparsers(dest="policy_command", required=True, metavar="SUBCOMMAND")
    e = _command(
        psub,
        "explain",
        "what the policy would decide for one send to a stored customer, and why",
        "continuum policy explain --address +15551230001 --purpose marketing --channel sms",
        "continuum policy explain --customer cus_0a7b --purpose service --channel sms "
        "--at 2026-12-01T23:00",
    )
    who = e.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", help="a customer id")
    who.add_argument("--address", help="an address of the customer (phone, email...)")
    e.add_argument("--purpose", required=True, choices=("transactional", "service", "marketing"))
    e.add_argument("--channel", required=True, choices=MEDIA)
    e.add_argument("--at", type=commands.parse_time, help="ISO 8601 time (default: now, UTC)")
    e.add_argument("--text", default="", help="the message text (for the loop guard)")
    e.add_argument(
        "--template", default="", metavar="FLOW.STEP", help="the sending step (dedupe, WhatsApp)"
    )
    e.add_argument("--format", choices=("text", "json"), default="text")


def _flow_tools(fsub: Subparsers, default: str) -> None:
    """``flows lint|graph|diff|simulate|replay``: tools for flow authors."""
    lint = _command(
        fsub, "lint", "report flows that are valid but probably wrong", "continuum flows lint"
    )
    lint.add_argument("folder", nargs="?", default=None, help="default: CONTINUUM_FLOWS_DIR")
    g = _command(
        fsub,
        "graph",
        "draw a flow as Mermaid text or an SVG",
        "continuum flows graph order-status",
        "continuum flows graph order-status --format svg --output order-status.svg",
    )
    g.add_argument("flow", help="a flow id in the flows folder, or a flow file")
    g.add_argument("--format", choices=("mermaid", "svg"), default="mermaid")
    g.add_argument("--output", default=None, help="write to this file instead of stdout")
    g.add_argument("--flows", default=None, help=default)
    d = _command(
        fsub,
        "diff",
        "semantic differences between two flow files or folders",
        "continuum flows diff flows/ ../candidate/flows/",
    )
    d.add_argument("old", help="a flow file or a folder of flows")
    d.add_argument("new", help="a flow file or a folder of flows")
    sim = _command(
        fsub,
        "simulate",
        "talk to a flow on stdin/stdout (/help in it)",
        "continuum flows simulate order-status",
        "echo 'where is my order' | continuum flows simulate order-status",
    )
    sim.add_argument("flow", help="the flow id to try")
    sim.add_argument("--channel", choices=MEDIA, default="sms")
    sim.add_argument(
        "--from",
        dest="sender",
        default="+15551230001",
        help="the customer's address (default: +15551230001)",
    )
    sim.add_argument("--state", default=None, help="a YAML file with the customer's state")
    sim.add_argument("--flows", default=None, help=default)
    r = _command(
        fsub,
        "replay",
        "re-run recorded inbound messages against candidate flows and report which would be "
        "handled differently",
        "continuum flows replay --since 2026-12-01 --flows ../candidate/flows",
        "continuum flows replay --since 2026-12-01 --flows ../candidate/flows --exit-code",
    )
    r.add_argument(
        "--since", type=commands.parse_time, required=True, help="ISO 8601 time, inclusive"
    )
    r.add_argument("--until", type=commands.parse_time, help="ISO 8601 time, exclusive")
    r.add_argument("--flows", required=True, help="the candidate flows folder")
    r.add_argument(
        "--limit",
        type=commands.positive_int,
        default=10_000,
        help="messages at most (default 10000)",
    )
    r.add_argument(
        "--exit-code",
        action="store_true",
        help="exit with status 1 when any decision would change (for CI)",
    )


def _processes(value: str) -> dict[str, int]:
    """One ``--processes`` value: ``decision=2`` or ``decision=2,dispatcher=3``."""
    try:
        return parse_processes([value], WORKERS)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _version() -> str:
    try:
        return metadata.version("continuum")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _check_times(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors argparse cannot see: an empty time range, a query with no subject."""
    sub = getattr(args, "ledger_command", None) or getattr(args, "flows_command", None)
    prog = f"{parser.prog} {args.command}" + (f" {sub}" if sub else "")
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    problem = None
    if since is not None and until is not None and since >= until:
        problem = f"--since {since.isoformat()} is not before --until {until.isoformat()}"
    elif args.command == "ledger" and not (args.customer or args.address or since):
        problem = "give --customer, --address, or a time range (--since)"
    if problem:
        parser.exit(EXIT_USAGE, f"{prog}: error: {problem} (see {prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, build settings, run the command; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_times(parser, args)
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
        return asyncio.run(commands.run(args, settings))
    except ConfigError as exc:
        print(f"continuum: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`continuum ledger query | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
