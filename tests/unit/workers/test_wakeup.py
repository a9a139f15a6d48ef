"""The wake bell's producer side: one ring per topic per interval, in the background."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from orchestrator.workers.wakeup import Bell, bell_channel


class _Redis:
    def __init__(self, fail: bool = False) -> None:
        self.published: list[tuple[str, str]] = []
        self.fail = fail

    async def publish(self, channel: str, message: str) -> int:
        if self.fail:
            raise RedisConnectionError("down")
        self.published.append((channel, message))
        return 1


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _settle(bell: Bell) -> None:
    await bell.close()


async def test_rings_once_per_topic_per_interval() -> None:
    redis, clock = _Redis(), _Clock()
    bell = Bell(redis, "ct:wake:x.", every_s=1.0, clock=clock)  # type: ignore[arg-type]
    bell.ring("x.customer")
    bell.ring("x.customer")  # just rang: sleepers of x.customer are awake already
    bell.ring("x.audit")
    await _settle(bell)
    assert redis.published == [("ct:wake:x.", "x.customer"), ("ct:wake:x.", "x.audit")]
    clock.now += 1.0
    bell.ring("x.customer")
    await _settle(bell)
    assert redis.published[-1] == ("ct:wake:x.", "x.customer")
    assert len(redis.published) == 3


async def test_a_failed_ring_is_tried_again_at_the_next_publish() -> None:
    redis, clock = _Redis(fail=True), _Clock()
    bell = Bell(redis, "c", clock=clock)  # type: ignore[arg-type]
    bell.ring("x.customer")
    await _settle(bell)
    redis.fail = False
    bell.ring("x.customer")  # within the interval, but the last ring never went out
    await _settle(bell)
    assert redis.published == [("c", "x.customer")]


async def test_ringing_never_waits_for_redis() -> None:
    gate = asyncio.Event()

    class _Slow(_Redis):
        async def publish(self, channel: str, message: str) -> Any:
            await gate.wait()
            return await super().publish(channel, message)

    redis = _Slow()
    bell = Bell(redis, "c")  # type: ignore[arg-type]
    bell.ring("x.customer")  # returns at once: nothing awaited
    assert redis.published == []
    gate.set()
    await _settle(bell)
    assert redis.published == [("c", "x.customer")]


def test_the_channel_is_per_topic_namespace() -> None:
    assert bell_channel("continuum.") != bell_channel("staging.")
