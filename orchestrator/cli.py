"""The ``continuum`` command: the composition root of every process.

Settings are built here, once, from ``CONTINUUM_*`` variables, and passed down. Usage errors and
bad settings print one clear line and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_settings import SettingsError

from orchestrator import commands
from orchestrator.errors import ConfigError
from orchestrator.settings import CHANNELS, Settings, describe_error, unknown_variables
from orchestrator.workers import WORKERS

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its options."""
    p = argparse.ArgumentParser(
        prog="continuum",
        description="Omnichannel interaction orchestration. Settings come from CONTINUUM_* "
        "environment variables (see docs/configuration.md).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser(
        "up",
        help="run everything: embedded servers (for unset settings), the "
        "sandbox provider, every worker and the API",
    )

    w = sub.add_parser(
        "worker",
        help="run workers (and optionally the API) against servers named in the environment",
    )
    w.add_argument(
        "--only",
        default=",".join(WORKERS),
        help="comma-separated workers to run (default: all)",
    )
    w.add_argument("--api", action="store_true", help="also serve the HTTP API")

    sub.add_parser("sandbox", help="run only the sandbox provider")
    sub.add_parser("topics", help="create every topic Continuum uses (idempotent)")

    s = sub.add_parser("send", help="publish an inbound message, as if a customer wrote in")
    s.add_argument("channel", choices=CHANNELS)
    s.add_argument("text", help="the message text")
    s.add_argument("--from", dest="sender", required=True, help="the customer's address")
    s.add_argument("--to", dest="recipient", default=None, help="our address they wrote to")
    s.add_argument(
        "--id",
        dest="event_id",
        default=None,
        help="the provider message id (default: a new one); reuse it to test dedupe",
    )

    ledger = sub.add_parser("ledger", help="query the delivery and audit ledger")
    lsub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="SUBCOMMAND")
    q = lsub.add_parser("query", help="print one customer's trail, in order")
    who = q.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", help="a customer id")
    who.add_argument(
        "--address", help="an address (phone, email...): every customer it resolved to"
    )
    q.add_argument("--since", type=commands.parse_time, help="ISO 8601 time, inclusive")
    q.add_argument("--until", type=commands.parse_time, help="ISO 8601 time, exclusive")
    q.add_argument("--format", choices=("table", "jsonl", "csv"), default="table")
    q.add_argument("--limit", type=int, default=10_000)

    flows = sub.add_parser("flows", help="work with flow files")
    fsub = flows.add_subparsers(dest="flows_command", required=True, metavar="SUBCOMMAND")
    v = fsub.add_parser("validate", help="validate every flow in a folder")
    v.add_argument("folder", nargs="?", default=None, help="default: CONTINUUM_FLOWS_DIR")
    t = fsub.add_parser("test", help="run scripted conversation tests and report step coverage")
    t.add_argument(
        "tests",
        nargs="?",
        default="tests/flows",
        help="a test file or a folder of them (default: tests/flows)",
    )
    t.add_argument("--flows", default=None, help="flows folder (default: CONTINUUM_FLOWS_DIR)")
    fsub.add_parser("schema", help="print the flow file JSON Schema")
    _flow_tools(fsub)
    _policy(sub)
    return p


def _policy(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``policy explain``: the contact policy's verdict on one send, rule by rule."""
    pol = sub.add_parser("policy", help="inspect the central contact policy (flows/policy.yaml)")
    psub = pol.add_subparsers(dest="policy_command", required=True, metavar="SUBCOMMAND")
    e = psub.add_parser(
        "explain", help="what the policy would decide for one send to a stored customer, and why"
    )
    e.add_argument("--customer", required=True, help="a customer id")
    e.add_argument("--purpose", required=True, choices=("transactional", "service", "marketing"))
    e.add_argument("--channel", required=True, choices=CHANNELS)
    e.add_argument("--at", type=commands.parse_time, help="ISO 8601 time (default: now, UTC)")
    e.add_argument("--text", default="", help="the message text (for the loop guard)")
    e.add_argument(
        "--template", default="", metavar="FLOW.STEP", help="the sending step (dedupe, WhatsApp)"
    )
    e.add_argument("--format", choices=("text", "json"), default="text")


def _flow_tools(fsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``flows lint|graph|diff|simulate|replay``: tools for flow authors (no server)."""
    default = "flows folder (default: CONTINUUM_FLOWS_DIR)"
    lint = fsub.add_parser("lint", help="report flows that are valid but probably wrong")
    lint.add_argument("folder", nargs="?", default=None, help="default: CONTINUUM_FLOWS_DIR")
    g = fsub.add_parser("graph", help="draw a flow as Mermaid text or an SVG")
    g.add_argument("flow", help="a flow id in the flows folder, or a flow file")
    g.add_argument("--format", choices=("mermaid", "svg"), default="mermaid")
    g.add_argument("--output", default=None, help="write to this file instead of stdout")
    g.add_argument("--flows", default=None, help=default)
    d = fsub.add_parser("diff", help="semantic differences between two flow files or folders")
    d.add_argument("old", help="a flow file or a folder of flows")
    d.add_argument("new", help="a flow file or a folder of flows")
    sim = fsub.add_parser("simulate", help="talk to a flow on stdin/stdout (/help in it)")
    sim.add_argument("flow", help="the flow id to try")
    sim.add_argument("--channel", choices=CHANNELS, default="sms")
    sim.add_argument(
        "--from",
        dest="sender",
        default="+15551230001",
        help="the customer's address (default: +15551230001)",
    )
    sim.add_argument("--state", default=None, help="a YAML file with the customer's state")
    sim.add_argument("--flows", default=None, help=default)
    r = fsub.add_parser(
        "replay",
        help="re-run recorded inbound messages against candidate "
        "flows and report which would be handled differently",
    )
    r.add_argument(
        "--since", type=commands.parse_time, required=True, help="ISO 8601 time, inclusive"
    )
    r.add_argument("--until", type=commands.parse_time, help="ISO 8601 time, exclusive")
    r.add_argument("--flows", required=True, help="the candidate flows folder")
    r.add_argument("--limit", type=int, default=10_000, help="messages at most (default 10000)")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, build settings, run the command; return the exit status."""
    args = build_parser().parse_args(argv)
    unknown = unknown_variables(os.environ)
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
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
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
