"""Flow timers in Redis: any replica may fire them, each is claimed by one, none is lost.

Three keys (all under the ``{timers}`` hash tag, see :mod:`orchestrator.state.keys`): a *due*
sorted set scored by due time, a *leased* sorted set scored by lease expiry, and a hash of
payloads. :meth:`RedisTimerStore.claim_due` moves ids from due to leased atomically, so two
replicas never claim the same timer; :meth:`RedisTimerStore.ack` forgets a timer once its event
is published; :meth:`RedisTimerStore.requeue_expired` puts back the leases of a replica that
died in between (so firing is at-least-once; the decision worker drops repeated event ids).

Example::

    store = RedisTimerStore(redis)
    await store.schedule([TimerSpec("tmr_1", "c42", due, "wait")])
    for timer in await store.claim_due(now):
        ...  # publish, flush
    await store.ack(["tmr_1"])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson

from orchestrator.doorbell import Doorbell
from orchestrator.redis_client import RedisClient
from orchestrator.state import keys
from orchestrator.state.due_queue import DueQueue


@dataclass(frozen=True, slots=True)
class TimerSpec:
    """One timer: fire a ``timer.fired`` event for ``customer_id`` at ``due`` (aware)."""

    timer_id: str
    customer_id: str
    due: datetime
    purpose: str
    name: str | None = None
    flow_id: str | None = None
    step: str | None = None

    def __post_init__(self) -> None:
        if self.due.tzinfo is None:
            raise ValueError(f"timer {self.timer_id}: due must be timezone-aware")

    def to_json(self) -> bytes:
        """The stored payload."""
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> TimerSpec:
        """The inverse of :meth:`to_json`."""
        doc: dict[str, Any] = orjson.loads(raw)
        doc["due"] = datetime.fromisoformat(doc["due"])
        return cls(**doc)


class RedisTimerStore:
    """Flow timers as a :class:`~orchestrator.state.due_queue.DueQueue`."""

    def __init__(self, redis: RedisClient) -> None:
        self._queue = DueQueue(
            redis, keys.timers_due_key(), keys.timers_leased_key(), keys.timer_data_key()
        )
        self.added = Doorbell()
        """Rung when this process adds timers: its scheduler looks at once."""

    async def schedule(self, timers: Sequence[TimerSpec]) -> None:
        """Add timers, or replace those with the same id (a new due time, a new payload)."""
        await self._queue.put([(t.timer_id, t.due, t.to_json()) for t in timers])
        if timers:
            self.added.ring()

    async def cancel(self, timer_ids: Sequence[str]) -> None:
        """Forget timers, due or leased; unknown ids are ignored."""
        await self._queue.remove(timer_ids)

    async def claim_due(
        self, now: datetime, limit: int = 500, lease_s: float = 30.0
    ) -> list[TimerSpec]:
        """Lease up to ``limit`` timers due by ``now`` to the caller for ``lease_s`` seconds."""
        return [TimerSpec.from_json(doc) for doc in await self._queue.claim(now, limit, lease_s)]

    async def ack(self, timer_ids: Sequence[str]) -> None:
        """Forget timers whose events the broker has confirmed."""
        await self._queue.ack(timer_ids)

    async def next_due(self) -> datetime | None:
        """When the earliest timer not yet claimed falls due (None if there is none)."""
        return await self._queue.next_due()

    async def requeue_expired(self, now: datetime, limit: int = 10_000) -> int:
        """Make timers whose lease ran out by ``now`` due again (their claimer died)."""
        return await self._queue.requeue_expired(now, limit)

    async def counts(self, now: datetime) -> dict[str, int]:
        """Timers ``waiting``, ``due`` (by ``now``, not fired yet) and ``leased``."""
        return await self._queue.counts(now)

    async def pending(self, customer_id: str | None = None) -> list[TimerSpec]:
        """Timers not yet acknowledged (due or leased), earliest first; O(all timers)."""
        timers = [TimerSpec.from_json(doc) for doc in await self._queue.payloads()]
        if customer_id is not None:
            timers = [t for t in timers if t.customer_id == customer_id]
        return sorted(timers, key=lambda t: (t.due, t.timer_id))
