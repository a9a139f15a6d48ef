"""Serving an ASGI app inside the running event loop, stopped by us rather than by signals."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator
from typing import Any

import uvicorn

from orchestrator.errors import ConfigError

TICK_S = 5.0
"""How often an idle server wakes: its Date header may be this much behind (harmless, and each
wake-up of an idle process costs CPU, most on a virtual machine)."""


class _QuietServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, tick_s: float = TICK_S) -> None:
        super().__init__(config)
        self.wake = asyncio.Event()
        self.tick_s = tick_s

    async def main_loop(self) -> None:
        # uvicorn's own loop wakes every 0.1 s to check should_exit, 10 times a second per
        # server while idle; this one wakes every tick_s (the Date header's resolution), or
        # at once when stop() sets `wake`.
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.tick_s)
            should_exit = await self.on_tick(counter)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The composition root owns SIGINT/SIGTERM and stops every part in order.
        yield


class HttpServer:
    """One uvicorn server for one app, as a task in the current loop."""

    def __init__(self, app: Any, host: str, port: int, name: str, tick_s: float = TICK_S) -> None:
        """``tick_s``: how often the idle server wakes (and refreshes its Date header)."""
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            log_config=None,  # its records go to our handlers (orchestrator.logs), as text or JSON
        )
        self._server = _QuietServer(config, tick_s)
        self._task: asyncio.Task[None] | None = None
        self.name = name

    async def start(self, timeout: float = 10.0) -> None:
        """Start serving; raise :class:`ConfigError` if it cannot (port in use, say)."""
        self._task = asyncio.create_task(self._server.serve(), name=f"http:{self.name}")
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._server.started:
            if self._task.done() or asyncio.get_running_loop().time() > deadline:
                raise ConfigError(f"{self.name}: could not listen on {self.url}")
            await asyncio.sleep(0.01)

    @property
    def port(self) -> int:
        """The port actually bound (useful when 0 was asked for)."""
        servers = getattr(self._server, "servers", [])
        for server in servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self._server.config.port)

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self._server.config.host}:{self.port}"

    async def stop(self) -> None:
        """Finish in-flight requests and stop."""
        if self._task is None:
            return
        self._server.should_exit = True
        self._server.wake.set()
        with contextlib.suppress(asyncio.CancelledError, SystemExit):
            await asyncio.wait_for(self._task, timeout=5)
        self._task = None
