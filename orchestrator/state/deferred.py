"""Sends the contact policy deferred (``not_before``, quiet hours, a deferring cap), and the
dispatcher's retries of retryable provider failures, in Redis.

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

from orchestrator.doorbell import Doorbell
from orchestrator.redis_client import RedisClient
from orchestrator.state import keys
from orchestrator.state.due_queue import DueQueue, ms

# KEYS: due, leased, data. ARGV: (id, due ms, payload) triples. What ``DueQueue.put`` does in a
# transaction, as one script, so that it can share a non-transactional pipeline (on a cluster,
# with commands for other slots) and still be atomic: the payload is written before the id is
# due, and an ``ack`` of an earlier lease cannot fall between (it would drop the new payload).
_PUT = """
for i = 1, #ARGV, 3 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 2])
  redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
end
return #ARGV / 3
"""


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


def queue_deferrals(pipe: Any, sends: Sequence[DeferredSend]) -> None:
    """Queue on ``pipe`` (any pipeline, on a single Redis or a cluster) one script that keeps
    ``sends`` until they are due, as :meth:`DeferredSends.defer` does. The caller rings
    :attr:`DeferredSends.added` once the pipeline ran. ``EVAL``, not ``EVALSHA``: redis-py's
    cluster pipeline refuses the latter, and it is one call per batch."""
    if not sends:
        return
    args: list[str | int | bytes] = []
    for s in sends:
        args += [s.message_id, ms(s.due), s.to_json()]
    names = (keys.deferred_due_key(), keys.deferred_leased_key(), keys.deferred_data_key())
    pipe.eval(_PUT, len(names), *names, *args)


class DeferredSends:
    """Deferred sends as a :class:`~orchestrator.state.due_queue.DueQueue`."""

    def __init__(self, redis: RedisClient) -> None:
        self._queue = DueQueue(
            redis, keys.deferred_due_key(), keys.deferred_leased_key(), keys.deferred_data_key()
        )
        self.added = Doorbell()
        """Rung when this process defers sends: its release loop looks at once."""

    async def defer(self, sends: Sequence[DeferredSend]) -> None:
        """Keep sends until they are due; a send deferred again gets its new time."""
        await self._queue.put([(s.message_id, s.due, s.to_json()) for s in sends])
        if sends:
            self.added.ring()

    async def claim_due(
        self, now: datetime, limit: int = 500, lease_s: float = 30.0
    ) -> list[DeferredSend]:
        """Lease up to ``limit`` sends due by ``now`` to the caller for ``lease_s`` seconds."""
        return [DeferredSend.from_json(d) for d in await self._queue.claim(now, limit, lease_s)]

    async def ack(self, message_ids: Sequence[str]) -> None:
        """Forget sends the broker has confirmed back on their outbound topic."""
        await self._queue.ack(message_ids)

    async def next_due(self) -> datetime | None:
        """When the earliest deferred send not yet claimed falls due (None if there is none)."""
        return await self._queue.next_due()

    async def requeue_expired(self, now: datetime, limit: int = 10_000) -> int:
        """Make sends whose lease ran out by ``now`` due again (their releaser died)."""
        return await self._queue.requeue_expired(now, limit)

    async def counts(self, now: datetime) -> dict[str, int]:
        """Sends ``waiting``, ``due`` (by ``now``, not released yet) and ``leased``."""
        return await self._queue.counts(now)

    async def pending(self) -> list[DeferredSend]:
        """Sends not yet released (due or leased), earliest first; O(all deferred sends)."""
        sends = [DeferredSend.from_json(doc) for doc in await self._queue.payloads()]
        return sorted(sends, key=lambda s: (s.due, s.message_id))
