"""``continuum bench``: the benchmark (see :mod:`orchestrator.bench` and docs/performance.md)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.bench.options import SCENARIOS, BenchOptions
from orchestrator.bench.report import Result, correctness
from orchestrator.commands.registry import Command
from orchestrator.errors import ConfigError
from orchestrator.settings import Settings

MAX_CUSTOMERS = 999_999
"""Addresses carry six digits of customer number (orchestrator.bench.load.address)."""


def scenarios(value: str) -> tuple[str, ...]:
    """``--scenario limits,pipeline``: known names, in run order."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown scenario {', '.join(unknown) or repr(value)}; choose from "
            + ", ".join(SCENARIOS)
        )
    return tuple(s for s in SCENARIOS if s in names)


def count(value: str) -> int:
    """A message or customer count: 1 to 999,999."""
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not 1 <= number <= MAX_CUSTOMERS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_CUSTOMERS}: {value!r}")
    return number


def seconds(value: str) -> float:
    """A positive number of seconds."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {value!r}")
    return number


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``continuum bench``."""
    p.add_argument(
        "--servers",
        action="store_true",
        help="use CONTINUUM_KAFKA__BOOTSTRAP_SERVERS, CONTINUUM_REDIS_URL and "
        "CONTINUUM_DATABASE_URL instead of starting embedded servers",
    )
    p.add_argument(
        "--scenario",
        type=scenarios,
        default=SCENARIOS,
        help=f"comma-separated scenarios (default: all of {','.join(SCENARIOS)})",
    )
    p.add_argument("--quick", action="store_true", help="small sizes, for development and CI")
    p.add_argument("--messages", type=count, help="pipeline messages (default 200000)")
    p.add_argument("--customers", type=count, help="pipeline customers (default 100000)")
    p.add_argument("--e2e-messages", type=count, help="end-to-end messages (default 20000)")
    p.add_argument("--limit-records", type=count, help="passthrough records (default 200000)")
    p.add_argument("--rate", type=count, help="latency: offered msg/s (default 2000)")
    p.add_argument("--seconds", type=seconds, help="latency: how long to offer (default 60)")
    p.add_argument(
        "--dispatch-messages", type=count, help="dispatch: commands in the burst (default 50000)"
    )
    p.add_argument("--dispatch-rate", type=count, help="dispatch: paced commands/s (default 500)")
    p.add_argument(
        "--routing-conversations", type=count, help="routing: simulated conversations (10000)"
    )
    p.add_argument("--routing-agents", type=count, help="routing: agents with capacity (200)")
    p.add_argument(
        "--routing-online-agents", type=count, help="routing: agents online but full (5000)"
    )
    p.add_argument(
        "--routing-rounds", type=count, help="routing: rounds on the board in Redis (1000)"
    )
    p.add_argument("--timeout", type=seconds, help="longest wait per scenario (default 1800)")
    p.add_argument(
        "--out", type=Path, default=Path("."), help="folder for bench.json and latency.png"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def options_from(args: argparse.Namespace) -> BenchOptions:
    """The run's options: the defaults (or ``--quick``'s), then every size given."""
    options = BenchOptions(scenarios=args.scenario, use_servers=args.servers, out_dir=args.out)
    if args.quick:
        options = options.quick()
    given: dict[str, Any] = {
        "messages": args.messages,
        "customers": args.customers,
        "e2e_messages": args.e2e_messages,
        "limit_records": args.limit_records,
        "rate": args.rate,
        "seconds": args.seconds,
        "timeout_s": args.timeout,
        "dispatch_messages": args.dispatch_messages,
        "dispatch_rate": args.dispatch_rate,
        "routing_conversations": args.routing_conversations,
        "routing_agents": args.routing_agents,
        "routing_online_agents": args.routing_online_agents,
        "routing_commit_rounds": args.routing_rounds,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    changes["progress"] = not args.no_progress
    changes["work"] = args.out / "bench-logs"
    return dataclasses.replace(options, **changes)


async def bench(settings: Settings, args: argparse.Namespace) -> int:
    """Run the bench; exit 0 when every scenario ran and every message was accounted for
    once, else 1.

    SIGTERM cancels the run like Ctrl-C does, so every server and worker it started is stopped.
    """
    from orchestrator.bench import runner

    if not await asyncio.to_thread(Path(settings.flows_dir).is_dir):
        raise ConfigError(
            f"{settings.flows_dir}: flows folder does not exist (run from the repository, or "
            "set CONTINUUM_FLOWS_DIR)"
        )
    task = asyncio.current_task()
    assert task is not None  # noqa: S101 - called from asyncio.run
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        results = await runner.run(settings, options_from(args))
    except asyncio.CancelledError:
        print("continuum bench: stopped; every process it started is stopped", file=sys.stderr)
        return 130
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
    return 0 if passed(results) else 1


def passed(results: Sequence[Result]) -> bool:
    """Every scenario ran to its end, and no message was lost or sent twice."""
    return all(r.status == "ok" for r in results) and bool(correctness(results)["ok"])


COMMANDS = (
    Command(
        "bench",
        "measure throughput, latency, cost and correctness on embedded (or given) servers",
        (
            "continuum bench --quick",
            "continuum bench --scenario limits,pipeline --messages 50000",
            "CONTINUUM_KAFKA__BOOTSTRAP_SERVERS=... continuum bench --servers",
        ),
        order=60,
        run=bench,
        add_arguments=add_arguments,
    ),
)
