"""Sends the contact policy deferred (``not_before``, quiet hours, a deferring cap), in Redis.

The timers' pattern (:mod:`orchestrator.state.timers`): a *due* sorted set scored by when the
message may go, a *leased* sorted set scored by lease expiry, and a hash of payloads, all under
the ``{deferred}`` hash tag. :meth:`DeferredSends.claim_due` moves ids from due to leased
atomically so two replicas never release the same send; :meth:`DeferredSends.ack` forgets it
once the broker has it back on the outbound topic; :meth:`DeferredSends.requeue_expired` puts
back the leases of a replica that died in between (release is at-least-once; the send ledger
keeps the message from going twice). The payload is the original ``message.send`` record.

Example::

    store = DeferredSends(redis)
    await store.defer([DeferredSend("msg_1", "c42", "sms", due, record_value)])
    for send in await store.claim_due(now):
        ...  # re-publish, flush
    await store.ack(["msg_1"])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson
from redis.asyncio import Redis

from orchestrator.state import keys

# The scripts of :mod:`orchestrator.state.timers`, on the deferred keys.
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

# KEYS: due, leased, data. ARGV: ids. Keeps the payload of a send deferred again meanwhile.
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
class DeferredSend:
    """One ``message.send`` record (``value``) to put back on its outbound topic at ``due``."""

    message_id: str
    customer_id: str
    channel: str
    due: datetime
    value: str

    def __post_init__(self) -> None:
        if self.due.tzinfo is None:
            raise ValueError(f"deferred send {self.message_id}: due must be timezone-aware")

    def to_json(self) -> bytes:
        """The stored payload."""
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> DeferredSend:
        """The inverse of :meth:`to_json`."""
        doc: dict[str, Any] = orjson.loads(raw)
        doc["due"] = datetime.fromisoformat(doc["due"])
        return cls(**doc)


class DeferredSends:
    """Due, leased and payload keys in Redis; every operation is one round trip."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._keys = [keys.deferred_due_key(), keys.deferred_leased_key(), keys.deferred_data_key()]
        self._claim_due = redis.register_script(_CLAIM_DUE)
        self._requeue = redis.register_script(_REQUEUE)
        self._ack = redis.register_script(_ACK)

    async def defer(self, sends: Sequence[DeferredSend]) -> None:
        """Keep sends until they are due; a send deferred again gets its new time."""
        if not sends:
            return
        due, leased, data = self._keys
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(due, {s.message_id: _ms(s.due) for s in sends})
            pipe.zrem(leased, *[s.message_id for s in sends])
            pipe.hset(data, mapping={s.message_id: s.to_json() for s in sends})
            await pipe.execute()

    async def claim_due(
        self, now: datetime, limit: int = 500, lease_s: float = 30.0
    ) -> list[DeferredSend]:
        """Lease up to ``limit`` sends due by ``now`` to the caller for ``lease_s`` seconds."""
        now_ms = _ms(now)
        raw = await self._claim_due(
            keys=self._keys, args=[now_ms, limit, now_ms + int(lease_s * 1000)]
        )
        return [DeferredSend.from_json(doc) for doc in raw]

    async def ack(self, message_ids: Sequence[str]) -> None:
        """Forget sends the broker has confirmed back on their outbound topic."""
        if message_ids:
            await self._ack(keys=self._keys, args=list(message_ids))

    async def requeue_expired(self, now: datetime, limit: int = 10_000) -> int:
        """Make sends whose lease ran out by ``now`` due again (their releaser died)."""
        return int(await self._requeue(keys=self._keys[:2], args=[_ms(now), limit]))

    async def pending(self) -> list[DeferredSend]:
        """Sends not yet released (due or leased), earliest first; O(all deferred sends)."""
        due, leased, data = self._keys
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrange(due, 0, -1)
            pipe.zrange(leased, 0, -1)
            due_ids, leased_ids = await pipe.execute()
        ids = list(dict.fromkeys([*due_ids, *leased_ids]))
        docs = await self._redis.hmget(data, ids) if ids else []
        sends = [DeferredSend.from_json(doc) for doc in docs if doc]
        return sorted(sends, key=lambda s: (s.due, s.message_id))
