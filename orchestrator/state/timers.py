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
from redis.asyncio import Redis

from orchestrator.state import keys

# KEYS: due, leased, data. ARGV: now ms, limit, lease expiry ms. Returns payloads.
_CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local payload = redis.call('HGET', KEYS[3], id)
  if payload then
    redis.call('ZADD', KEYS[2], ARGV[3], id)
    out[#out + 1] = payload
  end
end
return out
"""

# KEYS: due, leased. ARGV: now ms, limit. Expired leases become due now; returns how many.
_REQUEUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], 'NX', ARGV[1], id)
end
return #ids
"""

# KEYS: due, leased, data. ARGV: ids. Keeps the payload of an id re-scheduled meanwhile.
_ACK = """
for _, id in ipairs(ARGV) do
  redis.call('ZREM', KEYS[2], id)
  if not redis.call('ZSCORE', KEYS[1], id) then redis.call('HDEL', KEYS[3], id) end
end
return #ARGV
"""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


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
    """Due, leased and payload keys in Redis; every operation is one round trip."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._keys = [keys.timers_due_key(), keys.timers_leased_key(), keys.timer_data_key()]
        self._claim_due = redis.register_script(_CLAIM_DUE)
        self._requeue = redis.register_script(_REQUEUE)
        self._ack = redis.register_script(_ACK)

    async def schedule(self, timers: Sequence[TimerSpec]) -> None:
        """Add timers, or replace those with the same id (a new due time, a new payload)."""
        if not timers:
            return
        due, leased, data = self._keys
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(due, {t.timer_id: _ms(t.due) for t in timers})
            pipe.zrem(leased, *[t.timer_id for t in timers])
            pipe.hset(data, mapping={t.timer_id: t.to_json() for t in timers})
            await pipe.execute()

    async def cancel(self, timer_ids: Sequence[str]) -> None:
        """Forget timers, due or leased; unknown ids are ignored."""
        if not timer_ids:
            return
        due, leased, data = self._keys
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(due, *timer_ids)
            pipe.zrem(leased, *timer_ids)
            pipe.hdel(data, *timer_ids)
            await pipe.execute()

    async def claim_due(
        self, now: datetime, limit: int = 500, lease_s: float = 30.0
    ) -> list[TimerSpec]:
        """Lease up to ``limit`` timers due by ``now`` to the caller for ``lease_s`` seconds."""
        now_ms = _ms(now)
        raw = await self._claim_due(
            keys=self._keys, args=[now_ms, limit, now_ms + int(lease_s * 1000)]
        )
        return [TimerSpec.from_json(doc) for doc in raw]

    async def ack(self, timer_ids: Sequence[str]) -> None:
        """Forget timers whose events the broker has confirmed."""
        if timer_ids:
            await self._ack(keys=self._keys, args=list(timer_ids))

    async def requeue_expired(self, now: datetime, limit: int = 10_000) -> int:
        """Make timers whose lease ran out by ``now`` due again (their claimer died)."""
        result = await self._requeue(keys=self._keys[:2], args=[_ms(now), limit])
        return int(result)

    async def pending(self, customer_id: str | None = None) -> list[TimerSpec]:
        """Timers not yet acknowledged (due or leased), earliest first; O(all timers)."""
        due, leased, data = self._keys
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrange(due, 0, -1)
            pipe.zrange(leased, 0, -1)
            due_ids, leased_ids = await pipe.execute()
        ids = list(dict.fromkeys([*due_ids, *leased_ids]))
        docs = await self._redis.hmget(data, ids) if ids else []
        timers = [TimerSpec.from_json(doc) for doc in docs if doc]
        if customer_id is not None:
            timers = [t for t in timers if t.customer_id == customer_id]
        return sorted(timers, key=lambda t: (t.due, t.timer_id))
