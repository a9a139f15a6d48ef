"""The loop of a polling task (the scheduler, the release of deferred sends): one step at a
time, at once again while there is more work, and a growing pause while a dependency fails."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from orchestrator.metrics import Metrics
from orchestrator.workers.batch import INFRA_ERRORS

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0


async def poll(
    name: str,
    step: Callable[[], Awaitable[bool]],
    stop: asyncio.Event,
    metrics: Metrics,
    *,
    tick_s: float,
    backoff_s: float,
) -> None:
    """Run ``step`` until ``stop`` is set; ``step`` returns True when more work is waiting."""
    backoff = backoff_s
    while not stop.is_set():
        try:
            busy = await step()
        except INFRA_ERRORS as exc:
            log.warning("%s: %s; retrying in %.1fs", name, exc, backoff)
            metrics.batch_retries.labels(name).inc()
            await pause(stop, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        backoff = backoff_s
        if not busy:
            await pause(stop, tick_s)


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
