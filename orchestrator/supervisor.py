"""Child processes of ``continuum up``: spawn, watch, restart with a growing backoff, stop.

Each child is ``python -m orchestrator ARGS`` (a worker role, the API, the sandbox) with the
settings in its environment. Its output is copied line by line to ours, and a child is *ready*
when a given line appears in it, or a given URL answers 200. A child that exits after ``up`` is
ready is started again after :data:`BACKOFF_S`, doubled on each quick exit up to
:data:`MAX_BACKOFF_S`; one that had run for :data:`STABLE_S` starts the count again.

Example::

    sup = Supervisor([Child("decision.1", "decision", ("worker", "--only", "decision"), env,
                            ready_line="continuum: workers consuming")])
    await sup.start()
    await sup.wait_ready(timeout=120)
    ...
    await sup.stop(budget=7.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import sys
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

import httpx

from orchestrator.errors import ConfigError

log = logging.getLogger(__name__)

BACKOFF_S = 0.5
"""Wait before the first restart of a child; doubled on each further quick exit."""
MAX_BACKOFF_S = 30.0
"""The longest wait between restarts."""
STABLE_S = 60.0
"""A child that ran this long before it exited is restarted after :data:`BACKOFF_S` again."""
MAX_PROCESSES = 64
"""The most processes ``--processes`` gives one role."""
_LINE_LIMIT = 1 << 20
_PR_SET_PDEATHSIG = 1
# Our own interpreter, which we can run even when its path is not ours to traverse (a venv
# whose python links into /root, run as another user); argv[0] keeps the venv's path, so
# the child finds the same site-packages.
_SELF = "/proc/self/exe"


def parse_processes(values: Collection[str], roles: Collection[str]) -> dict[str, int]:
    """``["decision=2", "inbound=1,status=3"]`` -> ``{"decision": 2, ...}``.

    Raises ``ValueError`` with a one-line reason for anything else.
    """
    counts: dict[str, int] = {}
    for value in values:
        for item in value.split(","):
            role, sep, number = item.strip().partition("=")
            if not sep or not role:
                raise ValueError(f"{item.strip()!r} is not ROLE=N")
            if role not in roles:
                raise ValueError(f"unknown role {role!r}; choose from {', '.join(roles)}")
            try:
                n = int(number)
            except ValueError:
                raise ValueError(f"{item.strip()!r}: N is not a whole number") from None
            if not 1 <= n <= MAX_PROCESSES:
                raise ValueError(f"{item.strip()!r}: N must be from 1 to {MAX_PROCESSES}")
            counts[role] = n
    return counts


def backoff(restarts: int) -> float:
    """Seconds to wait before restart number ``restarts`` (1, 2, ...) of a child."""
    return float(min(MAX_BACKOFF_S, BACKOFF_S * 2 ** max(0, restarts - 1)))


@dataclass
class Child:
    """One supervised process: what to run and how to tell that it is ready."""

    name: str
    role: str
    args: tuple[str, ...]
    env: Mapping[str, str]
    ready_line: str | None = None
    ready_url: str | None = None
    proc: asyncio.subprocess.Process | None = field(default=None, repr=False)
    restarts: int = 0
    ready: bool = False
    exit_code: int | None = None

    @property
    def pid(self) -> int | None:
        """The running process's id."""
        return self.proc.pid if self.proc is not None else None


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Ask Linux to SIGTERM this child when ``up`` dies, so no child outlives it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Runs :class:`Child` processes until :meth:`stop`."""

    def __init__(self, children: list[Child], out: BinaryIO | None = None) -> None:
        self.children = children
        self._out = out if out is not None else sys.stdout.buffer
        self._stopping = asyncio.Event()
        self._restart = False  # only once every child was ready: a start-up failure is fatal
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Spawn every child."""
        for child in self.children:
            proc = await self._spawn(child)
            watch = self._watch(child, proc)
            self._tasks.append(asyncio.create_task(watch, name=f"watch-{child.name}"))

    async def _spawn(self, child: Child) -> asyncio.subprocess.Process:
        child.ready = False
        child.proc = proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orchestrator",
            *child.args,
            env=dict(child.env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=_LINE_LIMIT,
            executable=_SELF if sys.platform == "linux" else None,
            process_group=0,  # Ctrl-C reaches `up` only; it stops the children in order
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        return proc

    async def _watch(self, child: Child, proc: asyncio.subprocess.Process) -> None:
        """Copy the child's output, and restart it when it exits (unless stopping)."""
        while True:
            started = time.monotonic()
            await self._pump(child, proc)
            code = await proc.wait()
            child.exit_code = code
            if self._stopping.is_set():
                return
            if not self._restart:
                log.error("%s (pid %d) exited with code %d at start", child.name, proc.pid, code)
                return
            if time.monotonic() - started >= STABLE_S:
                child.restarts = 0
            child.restarts += 1
            delay = backoff(child.restarts)
            log.warning(
                "%s (role %s, pid %d) exited with code %d; restart %d in %.1fs",
                child.name,
                child.role,
                proc.pid,
                code,
                child.restarts,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            proc = await self._spawn(child)
            if self._stopping.is_set():  # stop() began while it started: it missed this one
                proc.terminate()
            log.info("%s restarted (pid %d)", child.name, proc.pid)

    async def _pump(self, child: Child, proc: asyncio.subprocess.Process) -> None:
        if proc.stdout is None:  # pragma: no cover - always a pipe
            return
        while True:
            try:
                line = await proc.stdout.readline()
            except ValueError:  # a line over the limit: pass on what there is
                line = await proc.stdout.read(_LINE_LIMIT)
            if not line:
                return
            if child.ready_line is not None and child.ready_line.encode() in line:
                child.ready = True
            with contextlib.suppress(OSError, ValueError):
                self._out.write(line)
                self._out.flush()

    async def wait_ready(self, timeout: float) -> None:
        """Return once every child is ready; from then on, exited children are restarted.

        Raises :class:`ConfigError` when a child exits first, or ``timeout`` passes.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                for child in self.children:
                    if child.exit_code is not None:
                        raise ConfigError(
                            f"{child.name} exited with code {child.exit_code} while starting "
                            "(its output is above)"
                        )
                    if not child.ready and child.ready_url is not None:
                        child.ready = await _answers(http, child.ready_url)
                waiting = [c.name for c in self.children if not c.ready]
                if not waiting:
                    self._restart = True
                    return
                if loop.time() > deadline:
                    raise ConfigError(f"not ready after {timeout:.0f}s: {', '.join(waiting)}")
                await asyncio.sleep(0.1)

    def send(self, sig: signal.Signals, roles: Collection[str]) -> None:
        """Send ``sig`` to the running children of these roles."""
        for child in self.children:
            if child.role in roles and child.proc is not None and child.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(sig)

    async def stop(self, budget: float) -> None:
        """SIGTERM every child, SIGKILL those still running after ``budget`` seconds."""
        self._stopping.set()
        running = [c.proc for c in self.children if c.proc and c.proc.returncode is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        waits = [asyncio.ensure_future(p.wait()) for p in running]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=budget)
            if pending:
                late = [c for c in self.children if c.proc and c.proc.returncode is None]
                names = ", ".join(c.name for c in late)
                log.warning("stop: %s did not exit in %.1fs; killed", names, budget)
                for child in late:
                    with contextlib.suppress(ProcessLookupError):
                        child.proc.kill()  # type: ignore[union-attr]
                await asyncio.wait(pending, timeout=1.0)
        if self._tasks:
            _, pending_tasks = await asyncio.wait(self._tasks, timeout=1.0)
            for task in pending_tasks:
                task.cancel()


async def _answers(http: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await http.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


def child_env(environ: Mapping[str, str], **settings: str | int) -> dict[str, str]:
    """``environ`` with ``CONTINUUM_<NAME>`` set for each keyword (``api__port=8081``)."""
    env = dict(environ)
    env.update({f"CONTINUUM_{k.upper()}": str(v) for k, v in settings.items()})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
