"""What each ``continuum`` subcommand does; :mod:`orchestrator.cli` parses and dispatches."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from orchestrator.settings import Settings


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


# Commands that talk to a running service: they find the one `continuum up` started here.
CLIENTS = frozenset({"send", "ledger", "policy", "flows reload", "flows replay"})


async def run(args: argparse.Namespace, settings: Settings) -> int:  # noqa: C901 - a flat dispatch
    """Run the parsed command."""
    from orchestrator.commands import addresses, flows, ledger, policy, send, serve

    name = args.command + (f" {args.flows_command}" if args.command == "flows" else "")
    if name in CLIENTS:
        settings = addresses.located(settings)

    match args.command:
        case "up":
            return await serve.up(settings, {k: v for d in args.processes for k, v in d.items()})
        case "worker":
            return await serve.worker(settings, args.only.split(","), api=args.api)
        case "sandbox":
            return await serve.sandbox(settings)
        case "topics":
            return await serve.topics(settings)
        case "send":
            return await send.send(settings, args)
        case "bench":
            from orchestrator.commands import bench

            return await bench.bench(settings, args)
        case "ledger":
            return await ledger.query(settings, args)
        case "policy":
            return await policy.run(settings, args)
        case "flows" if args.flows_command == "replay":
            return await flows.replay(settings, args)
        case "flows" if args.flows_command == "reload":
            return await flows.reload(settings)
        case "flows":
            return {
                "validate": flows.validate,
                "test": flows.test,
                "schema": flows.schema,
                "lint": flows.lint,
                "graph": flows.graph,
                "diff": flows.diff,
                "simulate": flows.simulate,
            }[args.flows_command](settings, args)
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover
