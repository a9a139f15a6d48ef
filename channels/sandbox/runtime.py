"""What a running sandbox holds: config, store, HTTP client and its callback pipeline.

Status callbacks go through a bounded pipeline, never one task per message: the Messages API
hands each message's steps (one per status) to :meth:`SandboxRuntime.submit`, which waits for
one of ``callback_backlog`` slots; ``callback_senders`` tasks run the steps, sharing an HTTP
client whose pool has as many connections as there are senders; one timer task holds each next
step for ``status_delay_s``. The delay is the same for every step, so a FIFO of (due, step) is
in due order and the timer only ever waits for its head.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from channels.sandbox.config import SandboxConfig
from channels.sandbox.faults import FaultBook
from channels.sandbox.store import Listing, MessageStore

logger = logging.getLogger(__name__)

Step = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class _Job:
    steps: Sequence[Step]
    index: int = 0


class SandboxRuntime:
    """State shared by the sandbox's routes; ``running()`` is the app lifespan."""

    def __init__(
        self, config: SandboxConfig, http: httpx.AsyncClient | None = None, redis: Any = None
    ) -> None:
        self.config = config
        self.store = MessageStore()
        self.redis = redis
        """The service's Redis client (``redis.asyncio``), when the composition root gives one:
        the web chat fake reads the session mailboxes with it."""
        self.faults = FaultBook(random.Random(config.fault_seed))  # noqa: S311 - not secrets
        """The fault rules the fakes consult (``/_sandbox/faults``, :mod:`.injection`)."""
        self._later: set[asyncio.Task[None]] = set()
        self.listings: list[Listing] = []
        """Fakes' messages kept outside :attr:`store`, listed beside it."""
        self._http = http
        self._slots = asyncio.Semaphore(config.callback_backlog)
        self._in_flight = 0
        self._ready: asyncio.Queue[_Job] = asyncio.Queue()
        self._delayed: asyncio.Queue[tuple[float, _Job]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self.services: list[Callable[[], AbstractAsyncContextManager[None]]] = []
        """Servers a fake runs beside the HTTP app (the SMTP server), entered by running()."""
        self.ports: dict[str, int] = {}
        """Where those servers listen once started, by name (``{"smtp": 8025}``)."""

    @property
    def http(self) -> httpx.AsyncClient:
        """The client used for callbacks and webhooks; exists once started or when injected."""
        if self._http is None:
            raise RuntimeError("sandbox not started: run its lifespan or pass an http client")
        return self._http

    @property
    def pending(self) -> int:
        """How many submitted step sequences (messages' callbacks) have not finished."""
        return self._in_flight

    async def submit(self, steps: Sequence[Step]) -> None:
        """Queue ``steps`` to run in order, ``status_delay_s`` apart; wait while the backlog is
        full. A step that raises is logged and the next one still runs."""
        if not steps:
            return
        await self._slots.acquire()
        self._in_flight += 1
        self._ready.put_nowait(_Job(steps))

    def submit_later(self, delay_s: float, steps: Sequence[Step]) -> None:
        """Like :meth:`submit`, ``delay_s`` from now (a delayed receipt); dropped on stop."""

        async def later() -> None:
            await asyncio.sleep(delay_s)
            await self.submit(steps)

        task = asyncio.create_task(later(), name="sandbox-delayed-receipt")
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _sender(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.config.status_delay_s
        while True:
            job = await self._ready.get()
            try:
                await job.steps[job.index]()
            except Exception as exc:
                logger.error("sandbox background task failed", exc_info=exc)
            job.index += 1
            if job.index < len(job.steps):
                self._delayed.put_nowait((loop.time() + delay, job))
            else:
                self._in_flight -= 1
                self._slots.release()

    async def _timer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, job = await self._delayed.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._ready.put_nowait(job)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Own an HTTP client if none was injected, start the senders; stop them on the way
        out, dropping callbacks not yet sent."""
        owned = self._http is None
        if owned:
            senders = self.config.callback_senders
            limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
            self._http = httpx.AsyncClient(timeout=5.0, limits=limits)
        self._workers = [
            asyncio.create_task(self._sender(), name=f"sandbox-callbacks-{i}")
            for i in range(self.config.callback_senders)
        ]
        self._workers.append(asyncio.create_task(self._timer(), name="sandbox-callback-timer"))
        try:
            async with AsyncExitStack() as stack:
                for service in self.services:
                    await stack.enter_async_context(service())
                yield
        finally:
            for task in (*self._workers, *self._later):
                task.cancel()
            await asyncio.gather(*self._workers, *self._later, return_exceptions=True)
            self._workers = []
            self._drop_pending()
            if owned and self._http is not None:
                await self._http.aclose()
                self._http = None

    def _drop_pending(self) -> None:
        for queue in (self._ready, self._delayed):
            while not queue.empty():
                queue.get_nowait()
        for _ in range(self._in_flight):
            self._slots.release()
        self._in_flight = 0
