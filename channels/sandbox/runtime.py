"""What a running sandbox holds: config, store, HTTP client and its background tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx

from channels.sandbox.config import SandboxConfig
from channels.sandbox.store import MessageStore

logger = logging.getLogger(__name__)


class SandboxRuntime:
    """State shared by the sandbox's routes; ``running()`` is the app lifespan."""

    def __init__(self, config: SandboxConfig, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.store = MessageStore()
        self._http = http
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def http(self) -> httpx.AsyncClient:
        """The client used for callbacks and webhooks; exists once started or when injected."""
        if self._http is None:
            raise RuntimeError("sandbox not started: run its lifespan or pass an http client")
        return self._http

    @property
    def pending(self) -> int:
        """How many background tasks are still running."""
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background, keeping a reference so it is not garbage collected."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        """Forget a finished task and log its failure, if any."""
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("sandbox background task failed", exc_info=exc)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Own an HTTP client if none was injected; cancel background tasks on the way out."""
        owned = self._http is None
        if owned:
            self._http = httpx.AsyncClient(timeout=5.0)
        try:
            yield
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if owned and self._http is not None:
                await self._http.aclose()
                self._http = None
