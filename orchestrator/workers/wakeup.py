"""The "records coming" bell: how Continuum's producers wake its sleeping consumers.

A consumer of a topic that only Continuum writes to sleeps after a quiet spell (its partitions
paused: :mod:`orchestrator.workers.pacing`). Every Continuum producer rings for a topic when it
publishes to it: a Redis ``PUBLISH`` of the topic's name on one channel, at most once per
:data:`RING_EVERY_S` per topic and process, sent in the background (the hot path never waits for
it). Every process with consumers listens, and a ring for a topic one of them reads wakes them.

Why a throttled ring loses nothing: a consumer falls asleep only after more than
:data:`RING_EVERY_S` without records *or rings* for its topics, so a sleeper cannot have missed
the ring that a later, throttled publish relied on. Redis pub/sub delivers at most once: a ring
lost to a Redis failover costs the sleeper's probe interval, and nobody sleeps while the
listener is not subscribed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from orchestrator.redis_client import RedisClient
from orchestrator.workers.polling import pause, until_stopped

log = logging.getLogger(__name__)

RING_EVERY_S = 1.0
"""The shortest interval between two rings for one topic from one process."""


def bell_channel(topic_prefix: str) -> str:
    """The pub/sub channel of the bell: one per topic namespace, so that two deployments that
    share a Redis do not wake each other."""
    return f"ct:wake:{topic_prefix}"


class Bell:
    """Rings for topics as records are published to them (the producer side)."""

    def __init__(
        self,
        redis: RedisClient,
        channel: str,
        *,
        every_s: float = RING_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis, self._channel, self._every_s, self._clock = redis, channel, every_s, clock
        self._last: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def ring(self, topic: str) -> None:
        """Records are going to ``topic``; ring unless this process rang for it just now."""
        now = self._clock()
        last = self._last.get(topic)
        if last is not None and now - last < self._every_s:
            return
        self._last[topic] = now
        task = asyncio.get_running_loop().create_task(self._publish(topic))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, topic: str) -> None:
        try:
            await self._redis.publish(self._channel, topic)
        except (RedisError, OSError) as exc:  # sleepers find the records at their next probe
            log.debug("wake bell: could not ring for %s: %s", topic, exc)
            self._last.pop(topic, None)

    async def close(self) -> None:
        """Let rings in flight finish (briefly)."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1.0)


class BellListener:
    """Hears the bell and tells ``rung`` which topic rang (the consumer side).

    ``listening`` is told True once subscribed and False when the subscription is lost; it
    resubscribes after a growing pause. The wait for a ring is a blocking read: an idle listener
    does not wake at all.
    """

    def __init__(
        self,
        redis: RedisClient,
        channel: str,
        rung: Callable[[str], None],
        listening: Callable[[bool], None],
    ) -> None:
        self._redis, self._channel = redis, channel
        self._rung, self._listening = rung, listening
        self._heard = False

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set."""
        backoff = 0.5
        while not stop.is_set():
            self._heard = False
            try:
                await self._listen(stop)
            except (RedisError, OSError) as exc:
                backoff = 0.5 if self._heard else min(backoff * 2, 30.0)
                log.warning("wake bell: %s; listening again in %.1fs", exc, backoff)
            finally:
                self._listening(False)
            await pause(stop, backoff)

    async def _listen(self, stop: asyncio.Event) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(self._channel)
            while not stop.is_set():
                message = await until_stopped(pubsub.get_message(timeout=None), stop)
                if message is None:
                    continue
                if message.get("type") == "subscribe":
                    self._heard = True
                    self._listening(True)
                    continue
                data = message.get("data")
                if message.get("type") == "message" and isinstance(data, bytes | str):
                    self._rung(data.decode() if isinstance(data, bytes) else data)
