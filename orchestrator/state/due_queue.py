"""A queue of items that fall due at a time, in Redis: any replica may claim them, each is
leased to one claimer at a time, and none is lost.

Three keys under one hash tag: a *due* sorted set scored by due time, a *leased* sorted set
scored by lease expiry, and a hash of payloads. :meth:`DueQueue.claim` moves ids from due to
leased atomically, so two replicas never claim the same item; :meth:`DueQueue.ack` forgets an
item once it has been handled; :meth:`DueQueue.requeue_expired` puts back the leases of a
replica that died in between (handling is at-least-once; callers dedupe by id).

Flow timers (:mod:`orchestrator.state.timers`) and sends deferred by the contact policy
(:mod:`orchestrator.state.deferred`) are both such queues.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from orchestrator.infra import translated
from orchestrator.redis_client import RedisClient

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


def ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(moment.timestamp() * 1000)


def queue_put(
    pipe: Any, due: str, leased: str, data: str, items: Sequence[tuple[str, datetime, bytes]]
) -> None:
    """Queue on ``pipe`` the commands that add (id, due, payload) items or replace those with
    the same id. The payload goes first and the due entry last, so that a claim that runs
    between them (``pipe`` need not be a transaction) never finds an id without its payload."""
    if items:
        pipe.hset(data, mapping={item_id: payload for item_id, _, payload in items})
        pipe.zrem(leased, *[item_id for item_id, _, _ in items])
        pipe.zadd(due, {item_id: ms(when) for item_id, when, _ in items})


def queue_remove(pipe: Any, due: str, leased: str, data: str, ids: Sequence[str]) -> None:
    """Queue on ``pipe`` the commands that forget items, due or leased."""
    if ids:
        pipe.zrem(due, *ids)
        pipe.zrem(leased, *ids)
        pipe.hdel(data, *ids)


@translated("redis")
class DueQueue:
    """Due, leased and payload keys; every operation is one round trip."""

    def __init__(self, redis: RedisClient, due_key: str, leased_key: str, data_key: str) -> None:
        self._redis = redis
        self._keys = [due_key, leased_key, data_key]
        self.names = (due_key, leased_key, data_key)  # also for commands riding elsewhere
        self._claim_due = redis.register_script(_CLAIM_DUE)
        self._requeue = redis.register_script(_REQUEUE)
        self._ack = redis.register_script(_ACK)

    async def put(self, items: Sequence[tuple[str, datetime, bytes]]) -> None:
        """Add (id, due, payload) items, or replace those with the same id."""
        if not items:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            queue_put(pipe, *self.names, items)
            await pipe.execute()

    async def remove(self, ids: Sequence[str]) -> None:
        """Forget items, due or leased; unknown ids are ignored."""
        if not ids:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            queue_remove(pipe, *self.names, ids)
            await pipe.execute()

    async def claim(self, now: datetime, limit: int, lease_s: float) -> list[bytes]:
        """Lease up to ``limit`` items due by ``now`` for ``lease_s`` seconds; their payloads."""
        now_ms = ms(now)
        raw = await self._claim_due(
            keys=self._keys, args=[now_ms, limit, now_ms + int(lease_s * 1000)]
        )
        return list(raw)

    async def next_due(self) -> datetime | None:
        """When the earliest item not yet claimed falls due (None if there is none)."""
        first = await self._redis.zrange(self._keys[0], 0, 0, withscores=True)
        return datetime.fromtimestamp(float(first[0][1]) / 1000, UTC) if first else None

    async def ack(self, ids: Sequence[str]) -> None:
        """Forget items that have been handled."""
        if ids:
            await self._ack(keys=self._keys, args=list(ids))

    async def requeue_expired(self, now: datetime, limit: int = 10_000) -> int:
        """Make items whose lease ran out by ``now`` due again (their claimer died)."""
        return int(await self._requeue(keys=self._keys[:2], args=[ms(now), limit]))

    async def counts(self, now: datetime) -> dict[str, int]:
        """How many items are ``waiting`` (due later), ``due`` (by ``now``, not claimed yet: the
        backlog) and ``leased``; one round trip."""
        due, leased, _ = self._keys
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcard(due)
            pipe.zcount(due, "-inf", ms(now))
            pipe.zcard(leased)
            total, overdue, claimed = await pipe.execute()
        return {"waiting": int(total) - int(overdue), "due": int(overdue), "leased": int(claimed)}

    async def payloads(self) -> list[bytes]:
        """Every item not yet acknowledged (due or leased); O(all items)."""
        due, leased, data = self._keys
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrange(due, 0, -1)
            pipe.zrange(leased, 0, -1)
            due_ids, leased_ids = await pipe.execute()
        ids = list(dict.fromkeys([*due_ids, *leased_ids]))
        docs = await self._redis.hmget(data, ids) if ids else []
        return [doc.encode() if isinstance(doc, str) else doc for doc in docs if doc]
