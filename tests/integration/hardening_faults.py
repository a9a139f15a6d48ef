"""Fault injection for the hardening tests: a TCP proxy that can fail, and a fake provider.

``FaultyProxy`` sits between a client and a server (Redis, here). ``fail()`` resets every open
connection and every new one until ``heal()``. ``FakeTwilio`` answers Twilio's Messages API
like the sandbox, optionally slowly, records what it was sent, and can run a hook before
answering (to break something while a provider call is in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orchestrator.http_server import HttpServer
from orchestrator.servers import free_port


class FaultyProxy:
    """A loopback TCP proxy to ``host:port`` that can be told to reset connections."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._failing = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = free_port()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self.fail()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def fail(self) -> None:
        """Reset every connection, and refuse new ones until :meth:`heal`."""
        self._failing = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def heal(self) -> None:
        self._failing = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._failing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


@dataclass
class FakeTwilio:
    """Twilio's Messages.json, answering ``queued`` after ``delay_s``; counts sends by ``To``."""

    delay_s: float = 0.0
    before_answer: Callable[[], Awaitable[None]] | None = None
    sent: list[dict[str, str]] = field(default_factory=list)
    started: list[dict[str, str]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    async def _messages(self, request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.started.append(form)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.before_answer is not None:
            hook, self.before_answer = self.before_answer, None
            await hook()
        self.sent.append(form)
        return JSONResponse({"sid": f"SMfake{next(self._ids)}", "status": "queued"}, 201)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """Serve on a free port; yield its base URL."""
        route = Route("/2010-04-01/Accounts/{sid}/Messages.json", self._messages, methods=["POST"])
        server = HttpServer(Starlette(routes=[route]), "127.0.0.1", free_port(), "fake-twilio")
        await server.start()
        try:
            yield server.url
        finally:
            await server.stop()
