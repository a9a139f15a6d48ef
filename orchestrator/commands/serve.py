"""``continuum up``, ``worker``, ``sandbox`` and ``topics``: the long-running commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import os
import signal
import sys
import time
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from channels.sandbox.app import create_sandbox_app
from channels.sandbox.config import SandboxConfig
from orchestrator import servers
from orchestrator.commands import addresses
from orchestrator.commands.registry import Command
from orchestrator.errors import ConfigError, FlowError
from orchestrator.providers import console_webhooks
from orchestrator.redis_client import make_redis
from orchestrator.settings import Settings
from orchestrator.supervisor import Child, Supervisor, child_env, parse_processes
from orchestrator.topics import Topics
from orchestrator.workers import WORKERS

if TYPE_CHECKING:
    from orchestrator.service import Service

STOP_BUDGET_S = 9.0
"""How long ``up`` may take to stop, embedded servers included, after SIGTERM (under 10 s)."""
CHILD_STOP_S = 7.5
"""The children's share of :data:`STOP_BUDGET_S` (SIGKILL after it); the servers get the rest."""
READY_TIMEOUT_S = 120.0
"""How long ``up`` waits for every child to be ready."""
WORKERS_READY = "continuum: workers consuming"
SANDBOX_READY = "continuum: sandbox provider at"


async def up(settings: Settings, processes: Mapping[str, int] | None = None) -> int:
    """Embedded servers for whatever is not configured, then every part of the service, each
    worker role, the API and the sandbox in processes of their own (``processes``: how many of
    a role; one by default), supervised (:mod:`orchestrator.supervisor`)."""
    from orchestrator.flowfiles import load_flows
    from orchestrator.policy.quiet_hours import describe_held

    started = time.monotonic()
    addresses.refuse_if_running(settings)
    s = settings
    # bad flows: exit 2
    catalogue = load_flows(s.flows_dir, s.flows_allowed_hosts, s.flow_variables, s.policy_file)
    stop = _stop_on_signal()
    embedded, settings = await _start_embedded(settings)
    settings = _fixed_ports(settings)
    supervisor = Supervisor(_children(settings, processes or {}))
    written: Path | None = None
    try:
        await supervisor.start()
        if await _first(supervisor.wait_ready(READY_TIMEOUT_S), stop.wait()):
            _print_where(settings, embedded, time.monotonic() - started, supervisor.children)
            written = _write_addresses(settings) if embedded else None
            quiet = describe_held(catalogue.policy, datetime.now(UTC))  # B8: say why replies wait
            if quiet:
                print(f"  {quiet}", flush=True)
            await _forward_hup_until(stop, supervisor)
        print("continuum: stopping...", flush=True)
    finally:
        _restore_signals()
        if written is not None:
            addresses.remove(written)
        stopping = time.monotonic()
        await supervisor.stop(CHILD_STOP_S)
        # Together, in what is left of the 10 s that SIGTERM allows: one slow server (each gets
        # SIGTERM, then SIGKILL when its time is up) must not add its wait to the others'.
        left = max(1.0, STOP_BUDGET_S - (time.monotonic() - stopping))
        await asyncio.gather(*(asyncio.to_thread(server.stop, left / 2) for server in embedded))
        print(f"continuum: stopped in {time.monotonic() - stopping:.1f}s", flush=True)
    return 0


def _fixed_ports(settings: Settings) -> Settings:
    """Port 0 (any free) becomes a free port now: every child must agree on where the API and
    the sandbox are."""
    update: dict[str, object] = {}
    if settings.api.port == 0:
        update["api"] = settings.api.model_copy(update={"port": servers.free_port()})
    if settings.sandbox.port == 0:
        update["sandbox"] = settings.sandbox.model_copy(update={"port": servers.free_port()})
    return settings.model_copy(update=update) if update else settings


def _children(settings: Settings, processes: Mapping[str, int]) -> list[Child]:
    """The API, the sandbox, and N processes of each worker role, with the settings in force
    (the embedded servers' addresses included) in their environment."""
    env = child_env(
        os.environ,
        kafka__bootstrap_servers=settings.kafka_bootstrap,
        redis_url=settings.redis,
        database_url=settings.database,
        api__port=settings.api.port,
        sandbox__port=settings.sandbox.port,
    )
    api = addresses.client_url(settings.api.host, settings.api.port)
    children = [
        Child("api", "api", ("worker", "--only", "none", "--api"), env, ready_url=f"{api}/readyz")
    ]
    if settings.sandbox.enabled:
        children.append(Child("sandbox", "sandbox", ("sandbox",), env, ready_line=SANDBOX_READY))
    fixed = itertools.count(settings.metrics.first_port) if settings.metrics.first_port else None
    for role in WORKERS:
        for i in range(1, processes.get(role, 1) + 1):
            port = next(fixed) if fixed else servers.free_port(settings.metrics.host)
            children.append(
                Child(
                    f"{role}.{i}",
                    role,
                    ("worker", "--only", role),
                    {**env, "CONTINUUM_METRICS__PORT": str(port)},
                    ready_line=WORKERS_READY,
                )
            )
    return children


async def _first(ready: Awaitable[None], stopped: Awaitable[object]) -> bool:
    """Wait for ``ready`` or ``stopped``; True when ready came first (its errors propagate)."""
    ready_task = asyncio.ensure_future(ready)
    stop_task = asyncio.ensure_future(stopped)
    try:
        done, _ = await asyncio.wait((ready_task, stop_task), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (ready_task, stop_task):
            task.cancel()
    if ready_task in done:
        ready_task.result()
        return True
    return False


def _stop_on_signal() -> asyncio.Event:
    """An event SIGINT or SIGTERM sets (from now on, for the whole of ``up``)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _restore_signals() -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, RuntimeError):
            loop.remove_signal_handler(sig)


async def _forward_hup_until(stop: asyncio.Event, supervisor: Supervisor) -> None:
    """Until ``stop``: SIGHUP reloads the flows, in every process that uses them."""
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGHUP, supervisor.send, signal.SIGHUP, ("api", *WORKERS)
    )
    await stop.wait()


async def worker(settings: Settings, names: list[str], *, api: bool) -> int:
    """Only workers (and the API if asked), against configured servers; ``none``: no worker."""
    from orchestrator.service import Service

    names = [n for n in names if n != "none"]
    unknown = set(names) - set(WORKERS)
    if unknown:
        raise ConfigError(
            f"unknown worker(s) {', '.join(sorted(unknown))}; choose from {', '.join(WORKERS)}"
        )
    service = Service(settings, workers=names, api=api)
    try:
        await service.start()
        await _wait_consuming(service)
        if names:
            print(f"{WORKERS_READY}: {', '.join(names)}", flush=True)
        if api:
            print(f"continuum: api serving {settings.api_public_url}", flush=True)
        await _until_signal(service)
    finally:
        await service.stop()
    return 0


async def sandbox(settings: Settings) -> int:
    """The sandbox provider alone."""
    from orchestrator.http_server import HttpServer

    config = SandboxConfig(
        twilio_account_sid=settings.twilio.account_sid,
        twilio_auth_token=settings.twilio.auth_token,
        smtp_host=settings.sandbox.host,
        smtp_port=settings.sandbox_smtp_port,
        console_webhooks=console_webhooks(settings),
        fault_seed=settings.sandbox.fault_seed,
    )
    redis = make_redis(settings.redis)  # the web chat fake lists the session mailboxes
    app = create_sandbox_app(config, redis=redis)
    server = HttpServer(app, settings.sandbox.host, settings.sandbox.port, "sandbox")
    await server.start()
    print(f"continuum: sandbox provider at {server.url}", flush=True)
    try:
        await _until_signal()
    finally:
        await server.stop()
        await redis.aclose()
    return 0


async def topics(settings: Settings) -> int:
    """Create the topics."""
    from orchestrator.service import create_topics

    names = Topics(settings.kafka.topic_prefix)
    await create_topics(settings, names)
    print("\n".join(names.all()))
    return 0


async def _start_embedded(settings: Settings) -> tuple[list[servers.EmbeddedServer], Settings]:
    """Start the servers the settings leave unset; return them and the settings that use them."""
    need = {
        "kafka": settings.kafka.bootstrap_servers is None,
        "redis": settings.redis_url is None,
        "postgres": settings.database_url is None,
    }
    prefixes = {"kafka": ("tansu",), "redis": ("redis",), "postgres": ("postgres", "psql")}
    missing = [
        m
        for m in servers.missing_binaries()
        if any(m.startswith(prefixes[name]) for name, on in need.items() if on)
    ]
    if missing:
        raise ConfigError("cannot start the embedded servers: " + "; ".join(missing))
    data = settings.data_dir.resolve()
    logs = data / "logs"
    if any(need.values()):  # with only external servers, nothing is written to disk
        logs.mkdir(parents=True, exist_ok=True)
    started: list[servers.EmbeddedServer] = []
    e = settings.embedded
    update: dict[str, object] = {}
    try:
        if need["kafka"]:
            started.append(
                await asyncio.to_thread(
                    servers.start_kafka,
                    e.kafka_port,
                    host=e.host,
                    log_dir=logs,
                    data_dir=data / "kafka" if e.kafka_storage == "disk" else None,
                )
            )
            update["kafka"] = settings.kafka.model_copy(
                update={"bootstrap_servers": started[-1].url}
            )
        if need["redis"]:
            started.append(
                await asyncio.to_thread(
                    servers.start_redis,
                    e.redis_port,
                    host=e.host,
                    data_dir=data / "redis",
                    log_dir=logs,
                )
            )
            update["redis_url"] = started[-1].url
        if need["postgres"]:
            started.append(
                await asyncio.to_thread(
                    servers.start_postgres,
                    e.postgres_port,
                    host=e.host,
                    data_dir=_postgres_dir(data),
                    log_dir=logs,
                )
            )
            update["database_url"] = started[-1].url
    except servers.ServerStartError as exc:
        for server in reversed(started):
            server.stop()
        raise ConfigError(str(exc)) from None
    return started, settings.model_copy(update=update)


def _write_addresses(settings: Settings) -> Path:
    """Tell commands in other terminals where this service listens (see commands/addresses.py)."""
    sandbox = settings.sandbox
    return addresses.write(
        settings,
        addresses.client_url(settings.api.host, settings.api.port),
        addresses.client_url(sandbox.host, sandbox.port) if sandbox.enabled else None,
    )


def _postgres_dir(data: Path) -> Path:
    """PostgreSQL refuses root and runs as its own user, which often cannot enter a root-owned
    home: then its data goes to a stable folder under /var/tmp instead."""
    reachable = all(os.stat(p).st_mode & 0o001 for p in (data, *data.parents))
    if os.geteuid() != 0 or reachable:
        return data / "postgres"
    tag = hashlib.sha256(str(data).encode()).hexdigest()[:12]
    return Path("/var/tmp/continuum") / tag / "postgres"  # noqa: S108 - a stable, private path


def _print_where(
    settings: Settings, embedded: list[servers.EmbeddedServer], took: float, children: list[Child]
) -> None:
    kinds = {s.name for s in embedded}
    storage = settings.embedded.kafka_storage
    kept = "records kept across restarts" if storage == "disk" else "records lost on stop"
    tansu = f"  (embedded Tansu, {storage} storage: {kept})" if "kafka" in kinds else ""
    lines = [
        f"continuum: up in {took:.1f}s",
        f"  kafka      {settings.kafka_bootstrap}{tansu}",
        f"  redis      {settings.redis}{'  (embedded)' if 'redis' in kinds else ''}",
        f"  postgres   {settings.database}{'  (embedded)' if 'postgres' in kinds else ''}",
        f"  api        {settings.api_public_url}  (/healthz /readyz /metrics /docs)",
    ]
    if settings.sandbox.enabled:
        lines.append(
            f"  sandbox    http://{settings.sandbox.host}:{settings.sandbox.port}"
            "  (GET /_sandbox/messages)"
        )
    lines += _process_lines(settings, children)
    lines.append(f"  flows      {Path(settings.flows_dir).resolve()}")
    lines.append("  topics     " + settings.kafka.topic_prefix + "*")
    if embedded:
        found = addresses.path_of(settings).resolve()
        lines.append(f"  addresses  {found}  (commands in other terminals read it)")
    lines.append('Try: continuum send sms --from +15551230001 "where is my order"   (Ctrl-C stops)')
    print("\n".join(lines), flush=True)


def _process_lines(settings: Settings, children: list[Child]) -> list[str]:
    """One line per process: its pid, and where a worker serves /metrics."""
    lines = []
    for child in children:
        port = child.env.get("CONTINUUM_METRICS__PORT")
        where = (
            f"  metrics {addresses.client_url(settings.metrics.host, int(port))}/metrics"
            if port and child.role in WORKERS
            else ""
        )
        lines.append(f"  process    {child.name:<13} pid {child.pid}{where}")
    return lines


async def _reload(service: Service) -> None:
    try:
        catalogue = await service.reload_flows()
    except FlowError as exc:
        print(
            "continuum: SIGHUP: the new flows are invalid; the running set stays:\n  "
            + "\n  ".join(exc.problems),
            file=sys.stderr,
            flush=True,
        )
        return
    flows = ", ".join(f"{f.id} v{f.version}" for f in catalogue.flows)
    print(f"continuum: SIGHUP: flows reloaded: {flows}", flush=True)


async def _wait_consuming(service: Service) -> None:
    try:
        await service.wait_consuming()
    except TimeoutError as exc:
        raise ConfigError(
            f"{exc}; is the broker at {service.settings.kafka_bootstrap} up?"
        ) from None


async def _until_signal(service: Service | None = None) -> None:
    """Wait for SIGINT or SIGTERM; SIGHUP reloads the flows of ``service`` meanwhile."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[None]] = set()
    if service is not None:

        def on_hup() -> None:
            task = asyncio.create_task(_reload(service))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)


def _processes(value: str) -> dict[str, int]:
    """One ``--processes`` value: ``decision=2`` or ``decision=2,dispatcher=3``."""
    try:
        return parse_processes([value], WORKERS)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _up_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--processes",
        action="append",
        type=_processes,
        default=[],
        metavar="ROLE=N",
        help="run N processes of a worker role (repeatable or comma-separated; default 1 each)",
    )


def _worker_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--only",
        default=",".join(WORKERS),
        help="comma-separated workers to run (default: all; none: no worker, with --api the "
        "API alone)",
    )
    p.add_argument("--api", action="store_true", help="also serve the HTTP API")


async def _run_up(settings: Settings, args: argparse.Namespace) -> int:
    return await up(settings, {k: v for d in args.processes for k, v in d.items()})


async def _run_worker(settings: Settings, args: argparse.Namespace) -> int:
    return await worker(settings, args.only.split(","), api=args.api)


async def _run_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    return await sandbox(settings)


async def _run_topics(settings: Settings, args: argparse.Namespace) -> int:
    return await topics(settings)


COMMANDS = (
    Command(
        "up",
        "run everything: embedded servers (for unset settings), the sandbox provider, every "
        "worker and the API, each in processes of its own, restarted when they exit",
        (
            "continuum up",
            "continuum up --processes decision=2,dispatcher=2",
            "CONTINUUM_API__PORT=18080 continuum up",
        ),
        order=10,
        run=_run_up,
        add_arguments=_up_arguments,
    ),
    Command(
        "worker",
        "run workers (and optionally the API) against servers named in the environment",
        ("continuum worker --api", "continuum worker --only dispatcher"),
        order=20,
        run=_run_worker,
        add_arguments=_worker_arguments,
    ),
    Command(
        "sandbox",
        "run only the sandbox provider (`sandbox fault ...` makes a running one misbehave)",
        ("continuum sandbox", "continuum sandbox fault list"),
        order=30,
        run=_run_sandbox,
    ),
    Command(
        "topics",
        "create every topic Continuum uses (idempotent)",
        ("continuum topics",),
        order=40,
        run=_run_topics,
    ),
)
