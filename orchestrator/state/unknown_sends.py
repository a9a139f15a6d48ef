"""The index of sends whose outcome is unknown, in Redis, for the reconciler and the operator.

A send is ``unknown`` when its request went out and no answer came back (a read timeout, a
connection dropped mid-request, a crash between claiming and recording). The dispatcher adds
it here in the same pipeline that records the outcome (:func:`queue_unknowns`, called by
:meth:`RedisStateStore.settle_sends`); the reconciler (:mod:`orchestrator.workers.reconcile`)
asks the provider about it; a receipt or a reconciliation that makes it known removes it
(:func:`queue_forget`); the operator lists and re-sends what stays
(``continuum dispatch resend --unknown``).

Four keys under ``{unknown}`` (:mod:`orchestrator.state.keys`): a :class:`DueQueue` (*due*,
*leased*, *data*) of the sends still being looked for, and *open*, every send still unknown,
looked for or given up on, scored by when its outcome was recorded. The due set is scored by
when the send falls due *minus* ``delay_s``, so that a new entry can be scored by the time
it was recorded (the dispatcher does not know the reconciler's settings); this class adds the
delay back, and callers see only real times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from orchestrator.infra import translated
from orchestrator.redis_client import RedisClient
from orchestrator.state import keys
from orchestrator.state.due_queue import DueQueue, ms

# KEYS: due, leased, data, open. ARGV: (id, recorded ms, payload) triples. A send already open
# keeps its first entry (a second ``unknown`` record of it changes nothing).
_PUT = """
local added = 0
for i = 1, #ARGV, 3 do
  if redis.call('ZADD', KEYS[4], 'NX', ARGV[i + 1], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 2])
    redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
    added = added + 1
  end
end
return added
"""

# KEYS: due, leased, data, open. ARGV: ids. Returns how many were open.
_FORGET = """
local n = 0
for _, id in ipairs(ARGV) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  n = n + redis.call('ZREM', KEYS[4], id)
end
return n
"""


def _names() -> tuple[str, str, str, str]:
    return (
        keys.unknown_due_key(),
        keys.unknown_leased_key(),
        keys.unknown_data_key(),
        keys.unknown_open_key(),
    )


@dataclass(frozen=True, slots=True)
class UnknownSend:
    """One send whose outcome is unknown: its ``message.send`` record (``value``), the provider
    that was called, and the window in which the provider may have created it (``since``: the
    command's time; ``recorded_at``: when the outcome was recorded)."""

    message_id: str
    customer_id: str
    channel: str
    provider: str
    since: datetime
    recorded_at: datetime
    value: str

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.recorded_at.tzinfo is None:
            raise ValueError(f"unknown send {self.message_id}: times must be timezone-aware")

    def to_json(self) -> bytes:
        """The stored payload."""
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> UnknownSend:
        """The inverse of :meth:`to_json`."""
        doc: dict[str, Any] = orjson.loads(raw)
        doc["since"] = datetime.fromisoformat(doc["since"])
        doc["recorded_at"] = datetime.fromisoformat(doc["recorded_at"])
        return cls(**doc)


def queue_unknowns(pipe: Any, sends: Sequence[UnknownSend]) -> None:
    """Queue on ``pipe`` (any pipeline, single Redis or cluster) one script that adds ``sends``
    to the index, unless already there. ``EVAL``, as :func:`..deferred.queue_deferrals`."""
    if not sends:
        return
    args: list[str | int | bytes] = []
    for s in sends:
        args += [s.message_id, ms(s.recorded_at), s.to_json()]
    names = _names()
    pipe.eval(_PUT, len(names), *names, *args)


def queue_forget(pipe: Any, message_ids: Sequence[str]) -> None:
    """Queue on ``pipe`` one script that drops sends now known from the index."""
    if message_ids:
        names = _names()
        pipe.eval(_FORGET, len(names), *names, *message_ids)


@translated("redis")
class UnknownSends:
    """The index, for the reconciler and the commands; every operation is one round trip."""

    def __init__(self, redis: RedisClient, *, delay_s: float = 0.0) -> None:
        self._redis = redis
        due, leased, data, self._open = _names()
        self._queue = DueQueue(redis, due, leased, data)
        self._data = data
        self._leased = leased
        self._delay = timedelta(seconds=delay_s)

    async def add(self, sends: Sequence[UnknownSend]) -> None:
        """Add sends to the index (the dispatcher does this in its own pipeline)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            queue_unknowns(pipe, sends)
            await pipe.execute()

    async def claim_due(self, now: datetime, limit: int, lease_s: float) -> list[UnknownSend]:
        """Lease up to ``limit`` sends due by ``now`` (at least ``delay_s`` after they were
        recorded, or at the time :meth:`look_again` gave) for ``lease_s`` seconds."""
        raw = await self._queue.claim(now - self._delay, limit, lease_s)
        return [UnknownSend.from_json(doc) for doc in raw]

    async def look_again(self, items: Sequence[tuple[UnknownSend, datetime]]) -> None:
        """Ask the provider again about each send at its time."""
        await self._queue.put([(s.message_id, at - self._delay, s.to_json()) for s, at in items])

    async def give_up(self, message_ids: Sequence[str]) -> None:
        """Stop looking for these sends; they stay open (unknown) for the operator."""
        if message_ids:
            await self._redis.zrem(self._leased, *message_ids)

    async def forget(self, message_ids: Sequence[str]) -> int:
        """Drop sends now known; how many were open."""
        if not message_ids:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            queue_forget(pipe, message_ids)
            (n,) = await pipe.execute()
        return int(n)

    async def requeue_expired(self, now: datetime) -> int:
        """Make the sends whose lease ran out due again (their reconciler died)."""
        return await self._queue.requeue_expired(now - self._delay)

    async def count(self) -> int:
        """How many sends are still unknown."""
        return int(await self._redis.zcard(self._open))

    async def open(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[UnknownSend]:
        """The sends still unknown whose outcome was recorded between ``since`` and ``until``,
        oldest first."""
        lo = ms(since) if since else "-inf"
        hi = ms(until) if until else "+inf"
        raw = await self._redis.zrangebyscore(self._open, lo, hi)
        ids = [i.decode() if isinstance(i, bytes) else str(i) for i in raw]
        if not ids:
            return []
        docs = await self._redis.hmget(self._data, ids)
        return [UnknownSend.from_json(doc) for doc in docs if doc]

    async def still_open(self, message_ids: Sequence[str]) -> list[bool]:
        """Whether each send is still unknown."""
        if not message_ids:
            return []
        scores = await self._redis.zmscore(self._open, list(message_ids))
        return [score is not None for score in scores]
