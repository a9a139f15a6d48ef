"""The servers and worker processes a bench run measures, started and always stopped.

Without ``--servers`` Tansu (memory storage), Redis and PostgreSQL start on free loopback
ports; with it, the ``CONTINUUM_*`` server settings of the environment are used. Each scenario
then gets a :class:`Deployment`: one OS process per worker role (``continuum worker --only
ROLE``; the API with the status worker, which its callbacks feed), all on a topic prefix of
their own. The sandbox provider
runs once per bench in its own process. Readiness is polled with a deadline: the workers print
``continuum: workers consuming``, the sandbox ``continuum: sandbox provider at``, and the API
answers ``/readyz``.

Example:
    >>> async with bench_servers(settings, options, work) as endpoints:
    ...     async with Deployment.start(endpoints, "bench1.", ROLES, work, api=False) as d:
    ...         ...
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from orchestrator import servers
from orchestrator.bench.options import BenchOptions
from orchestrator.errors import ConfigError
from orchestrator.service import create_topics
from orchestrator.settings import Settings
from orchestrator.topics import Topics

READY_TIMEOUT_S = 90.0
"""Longest a worker process may take to say it is consuming (subscribers start one by one)."""
STOP_TIMEOUT_S = 10.0
_POLL_S = 0.05

WORKER_READY = "continuum: workers consuming"
SANDBOX_READY = "continuum: sandbox provider at"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the servers of this run are, and the settings (flows, credentials) to pass on."""

    settings: Settings
    sandbox_url: str = ""

    @property
    def kafka(self) -> str:
        return self.settings.kafka_bootstrap

    @property
    def redis(self) -> str:
        return self.settings.redis

    @property
    def database(self) -> str:
        return self.settings.database


@dataclass
class Proc:
    """One child ``continuum`` process and the log it writes."""

    role: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait_for(self, line: str, timeout: float = READY_TIMEOUT_S) -> None:
        """Poll the log until ``line`` appears; fail with the log's tail if the child dies."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            if line in text:
                return
            if self.process.poll() is not None:
                raise ConfigError(
                    f"bench: {self.role} exited with {self.process.returncode}: {_tail(text)}"
                )
            if asyncio.get_running_loop().time() > deadline:
                raise ConfigError(f"bench: {self.role} not ready after {timeout:.0f}s")
            await asyncio.sleep(_POLL_S)

    def stop(self) -> None:
        """SIGTERM, wait, then SIGKILL; reaps the child. Idempotent."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
        self.process.wait()


async def wait_ready(url: str, timeout: float = READY_TIMEOUT_S) -> None:
    """Poll ``url`` (the API's /readyz) until it answers 200."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url)).status_code == 200:
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise ConfigError(f"bench: {url} not ready after {timeout:.0f}s")
            await asyncio.sleep(_POLL_S)


def spawn(role: str, args: Sequence[str], env: dict[str, str], log: Path) -> Proc:
    """Start ``python -m orchestrator ARGS`` with its output in ``log``."""
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "orchestrator", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Proc(role, process, log)


def child_env(endpoints: Endpoints, **extra: str) -> dict[str, str]:
    """The environment of a child: no inherited ``CONTINUUM_*``, these servers, quiet logs, and
    no provider rate limits (the bench measures Continuum; the sandbox has none, and Twilio's 1
    segment/s per long code would measure only that: docs/performance.md)."""
    s = endpoints.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    env.update(
        {
            "CONTINUUM_KAFKA__BOOTSTRAP_SERVERS": endpoints.kafka,
            "CONTINUUM_REDIS_URL": endpoints.redis,
            "CONTINUUM_DATABASE_URL": endpoints.database,
            "CONTINUUM_FLOWS_DIR": str(Path(s.flows_dir).resolve()),
            "CONTINUUM_LOG_LEVEL": "WARNING",
            "CONTINUUM_METRICS__PORT": str(servers.free_port()),
            "CONTINUUM_RATE_LIMITS__ENABLED": "false",
        }
    )
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def bench_servers(
    settings: Settings, options: BenchOptions, work: Path
) -> AsyncIterator[Endpoints]:
    """The servers (embedded on free ports, or the environment's) and the sandbox process."""
    started: list[servers.EmbeddedServer] = []
    pg_dir = Path(tempfile.mkdtemp(prefix="continuum-bench-pg-"))
    sandbox: Proc | None = None
    try:
        if options.use_servers:
            s = settings
            if not (s.kafka.bootstrap_servers and s.redis_url and s.database_url):
                raise ConfigError(
                    "bench --servers needs CONTINUUM_KAFKA__BOOTSTRAP_SERVERS, "
                    "CONTINUUM_REDIS_URL and CONTINUUM_DATABASE_URL"
                )
        else:
            s = _start_embedded(settings, work, pg_dir, started)
        port = servers.free_port()
        endpoints = Endpoints(s, f"http://127.0.0.1:{port}")
        env = child_env(endpoints, CONTINUUM_SANDBOX__PORT=str(port))
        sandbox = spawn("sandbox", ["sandbox"], env, work / "sandbox.log")
        await sandbox.wait_for(SANDBOX_READY)
        yield endpoints
    finally:
        if sandbox is not None:
            sandbox.stop()
        for server in reversed(started):
            server.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)


def _start_embedded(
    settings: Settings, work: Path, pg_dir: Path, started: list[servers.EmbeddedServer]
) -> Settings:
    missing = servers.missing_binaries()
    if missing:
        raise ConfigError("cannot start the embedded servers: " + "; ".join(missing))
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Started in the loop's own thread on purpose: nothing else runs yet, and a Ctrl-C then
    # takes effect only once the server is in `started`, so it is stopped, never orphaned.
    try:
        kafka = servers.start_kafka(servers.free_port(), log_dir=logs)
        started.append(kafka)
        redis = servers.start_redis(servers.free_port(), log_dir=logs)
        started.append(redis)
        postgres = servers.start_postgres(
            servers.free_port(), data_dir=pg_dir, log_dir=logs, durable=False
        )
        started.append(postgres)
    except servers.ServerStartError as exc:
        raise ConfigError(str(exc)) from None
    kafka_settings = settings.kafka.model_copy(update={"bootstrap_servers": kafka.url})
    return settings.model_copy(
        update={"kafka": kafka_settings, "redis_url": redis.url, "database_url": postgres.url}
    )


@dataclass
class Deployment:
    """The worker processes of one scenario, on topic prefix ``prefix``."""

    endpoints: Endpoints
    prefix: str
    procs: list[Proc] = field(default_factory=list)

    @property
    def topics(self) -> Topics:
        return Topics(self.prefix)

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        endpoints: Endpoints,
        prefix: str,
        roles: Sequence[str],
        work: Path,
        *,
        api: bool,
        env: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Deployment]:
        """Create the prefix's topics, start one process per role (the API with ``status``
        when ``api``), with ``env`` besides the servers', wait until every one consumes; stop
        them all on exit."""
        deployment = cls(endpoints, prefix)
        settings = endpoints.settings
        named = settings.model_copy(
            update={"kafka": settings.kafka.model_copy(update={"topic_prefix": prefix})}
        )
        await create_topics(named, Topics(prefix))
        api_port = servers.free_port()
        common = {
            "CONTINUUM_KAFKA__TOPIC_PREFIX": prefix,
            "CONTINUUM_KAFKA__GROUP_PREFIX": prefix.rstrip("."),
            "CONTINUUM_KAFKA__PARTITIONS": str(settings.kafka.partitions),
            "CONTINUUM_API__PORT": str(api_port),
            "CONTINUUM_SANDBOX__PORT": endpoints.sandbox_url.rsplit(":", 1)[1],
            **(env or {}),
        }
        try:
            for role in roles:
                args = ["worker", "--only", role]
                if api and role == "status":
                    args.append("--api")
                log = work / f"{prefix}{role}.log"
                deployment.procs.append(spawn(role, args, child_env(endpoints, **common), log))
            await asyncio.gather(*(p.wait_for(WORKER_READY) for p in deployment.procs))
            if api:
                await wait_ready(f"http://127.0.0.1:{api_port}/readyz")
            yield deployment
        finally:
            deployment.stop()

    def stop(self) -> None:
        """Stop every process: SIGTERM to all first, so their stops overlap."""
        for proc in self.procs:
            if proc.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.process.send_signal(signal.SIGTERM)
        for proc in self.procs:
            proc.stop()

    def pids(self) -> dict[str, int]:
        """The pid of each role's process."""
        return {p.role: p.pid for p in self.procs}


def _tail(text: str, lines: int = 8) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])
