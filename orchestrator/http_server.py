"""Serving an ASGI app inside the running event loop, stopped by us rather than by signals."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Generator
from email.utils import formatdate
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from orchestrator.errors import ConfigError


class _DateOnUse(ServerState):
    """uvicorn's server state, with the Date header made when a response reads it (at most once
    a second) instead of by a tick: an idle server then need not wake at all."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._config = config
        self._second = -1
        self._headers: list[tuple[bytes, bytes]] = []
        super().__init__()

    @property
    def default_headers(self) -> list[tuple[bytes, bytes]]:
        now = int(time.time())
        if now != self._second:
            date = [(b"date", formatdate(now, usegmt=True).encode())]
            extra = self._config.encoded_headers if self._config.loaded else []
            self._second, self._headers = now, (date if self._config.date_header else []) + extra
        return self._headers

    @default_headers.setter
    def default_headers(self, value: list[tuple[bytes, bytes]]) -> None:
        pass  # uvicorn sets it at each tick; it is made on use here


class _QuietServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.server_state = _DateOnUse(config)
        self.wake = asyncio.Event()

    async def main_loop(self) -> None:
        # uvicorn's own loop wakes every 0.1 s to check should_exit and refresh the Date
        # header, 10 times a second per server while idle (each wake-up of an idle process
        # costs CPU, most on a virtual machine); this one sleeps until stop() sets `wake`.
        while not self.should_exit:
            await self.wake.wait()
            self.wake.clear()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The composition root owns SIGINT/SIGTERM and stops every part in order.
        yield


class HttpServer:
    """One uvicorn server for one app, as a task in the current loop."""

    def __init__(self, app: Any, host: str, port: int, name: str) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            log_config=None,  # its records go to our handlers (orchestrator.logs), as text or JSON
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None
        self.name = name

    async def start(self, timeout: float = 10.0) -> None:
        """Start serving; raise :class:`ConfigError` if it cannot (port in use, say)."""
        self._task = asyncio.create_task(self._serve(), name=f"http:{self.name}")
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._server.started:
            if self._task.done() or asyncio.get_running_loop().time() > deadline:
                raise ConfigError(f"{self.name}: could not listen on {self.url}")
            await asyncio.sleep(0.01)

    async def _serve(self) -> None:
        # uvicorn answers a port in use with sys.exit(3) inside the task; a SystemExit that
        # leaves a task stops the whole event loop with a traceback. Kept here, the task just
        # ends, and start() says which address could not be bound.
        with contextlib.suppress(SystemExit):
            await self._server.serve()

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
