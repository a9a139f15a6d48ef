"""Provider rate limits shared by every dispatcher process: GCRA buckets in Redis, two lanes.

Each bucket (:class:`~orchestrator.delivery.rate_plan.Bucket`: a provider account, or one of its
senders) is a Redis hash under the account's hash tag (:func:`keys.rate_bucket_key`) holding the
generic cell rate algorithm's *theoretical arrival time* (``tat``, epoch ms): a bucket of rate
``r`` and size ``b`` lets a message of cost ``n`` go at ``now`` when
``max(tat, now) + n / r - now <= b / r``, and then moves ``tat`` on by ``n / r``. A bulk message
sees a smaller bucket, ``bulk_share * b``, so it stops while the replies' reserve is still there.

One Lua script per message checks all of its buckets and takes from all or none (they share a
slot, so it works on Redis Cluster). A refused message is told when to come back (``retry_at``):
each lane of a bucket keeps a queue cursor, so the messages one burst refuses are given
successive slots ``n / r`` apart instead of all coming back at once. A provider's 429 empties a
bucket until its ``Retry-After`` (:meth:`RateLimiter.penalise`).

The dispatcher queues the takes of a batch on a pipeline it executes anyway
(:meth:`RateLimiter.queue`, :meth:`RateLimiter.read`); :meth:`RateLimiter.take_many` is the same
in its own round trip. Example::

    limiter = RateLimiter(redis, settings.rate_limits)
    grants = await limiter.take_many([take], now)
    if not grants[0].ok:
        defer_until(grants[0].retry_at)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import RedisCluster
from redis.exceptions import NoScriptError

from orchestrator.delivery.rate_plan import Bucket, Take
from orchestrator.infra import translated
from orchestrator.redis_client import RedisClient
from orchestrator.settings import RateLimitSettings
from orchestrator.state import keys

_KEEP = """
local function keep(key, now)
  local v = redis.call('HMGET', key, 'tat', 'reply', 'bulk')
  local last = now
  for j = 1, 3 do
    local x = tonumber(v[j])
    if x and x > last then last = x end
  end
  redis.call('PEXPIRE', key, math.ceil(last - now) + 1000)
end
"""

# KEYS: the message's buckets. ARGV: now ms, cost, lane (reply or bulk), bulk share, then
# (interval ms per unit, size in units) per key. Returns {0, 0} when taken from every bucket,
# else {index of the bucket that holds it back longest, ms when it may come back}.
_TAKE = (
    _KEEP
    + """
local now, cost, lane, share = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local tats, worst, slot = {}, 0, 0
for i, key in ipairs(KEYS) do
  local interval, size = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
  local tat = tonumber(redis.call('HGET', key, 'tat')) or now
  if tat < now then tat = now end
  tats[i] = tat
  local limit = size * interval
  if lane == 'bulk' then limit = limit * share end
  local fits = tat - limit + math.min(cost * interval, limit)
  if fits > now then
    local at = math.max(tonumber(redis.call('HGET', key, lane)) or 0, fits)
    redis.call('HSET', key, lane, at + cost * interval)
    keep(key, now)
    if at > slot then worst, slot = i, at end
  end
end
if worst > 0 then return {worst, math.ceil(slot)} end
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'tat', tats[i] + cost * tonumber(ARGV[3 + 2 * i]))
  keep(key, now)
end
return {0, 0}
"""
)

# KEYS[1]: a bucket. ARGV: now ms, until ms, interval ms, size. The bucket is empty until
# ``until``, when one unit fits again.
_PENALISE = (
    _KEEP
    + """
local now, til, interval, size = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat')) or now
local empty = til + (size - 1) * interval
if empty > tat then redis.call('HSET', KEYS[1], 'tat', empty) end
keep(KEYS[1], now)
return 1
"""
)


@dataclass(frozen=True, slots=True)
class Grant:
    """The limiter's answer to one :class:`Take`: ``ok``, or the ``bucket`` that is full and
    when the message may come back (``retry_at``)."""

    ok: bool
    retry_at: datetime | None = None
    bucket: Bucket | None = None


GRANTED = Grant(True)


def bucket_key(bucket: Bucket) -> str:
    """The Redis key of one bucket."""
    return keys.rate_bucket_key(bucket.provider, bucket.account, bucket.scope)


@translated("redis")
class RateLimiter:
    """Takes from the shared buckets: a batch's takes in one round trip."""

    def __init__(self, redis: RedisClient, settings: RateLimitSettings) -> None:
        self._redis = redis
        self._settings = settings
        self._cluster = isinstance(redis, RedisCluster)
        self._take = redis.register_script(_TAKE)
        self._penalise = redis.register_script(_PENALISE)

    async def take_many(self, takes: Sequence[Take | None], now: datetime) -> list[Grant]:
        """Take for each message (None: not limited) in one round trip, in order: every
        bucket of a take, or none of them."""
        for attempt in range(2):
            async with self._redis.pipeline(transaction=False) as pipe:
                todo = self.queue(pipe, takes, now)
                if not todo:
                    return [GRANTED] * len(takes)
                results = await pipe.execute(raise_on_error=False)
            grants = self.read(takes, todo, results)
            if grants is not None:
                return grants
            if attempt == 0:  # a server that lost its scripts: load it, take again
                await self._redis.script_load(_TAKE)
        raise NoScriptError("the rate limit script could not be loaded")

    def queue(self, pipe: Any, takes: Sequence[Take | None], now: datetime) -> list[int]:
        """Queue on ``pipe`` (non-transactional, run with ``raise_on_error=False``) one script
        per take; the indices of the takes queued, for :meth:`read`."""
        todo = [i for i, take in enumerate(takes) if take is not None and take.buckets]
        for i in todo:
            take = takes[i]
            assert take is not None  # noqa: S101 - filtered above
            names = [bucket_key(b) for b in take.buckets]
            args: list[str | int | float] = [_ms(now), take.cost, take.lane, self._share]
            for b in take.buckets:
                args += [1000.0 / b.rate, b.burst]
            if self._cluster:  # redis-py's cluster pipeline refuses EVALSHA
                pipe.eval(_TAKE, len(names), *names, *args)
            else:
                pipe.evalsha(self._take.sha, len(names), *names, *args)
        return todo

    def read(
        self, takes: Sequence[Take | None], todo: Sequence[int], results: Sequence[Any]
    ) -> list[Grant] | None:
        """The grants :meth:`queue` asked for, from their results; None if the server did not
        have the script (then take again with :meth:`take_many`: nothing was taken)."""
        if any(isinstance(r, NoScriptError) for r in results):
            return None
        out = [GRANTED] * len(takes)
        for i, result in zip(todo, results, strict=True):
            if isinstance(result, Exception):
                raise result
            failed, at_ms = result
            take = takes[i]
            if failed and take is not None:
                at = datetime.fromtimestamp(int(at_ms) / 1000, UTC)
                out[i] = Grant(False, at, take.buckets[int(failed) - 1])
        return out

    async def penalise(self, bucket: Bucket, until: datetime, now: datetime) -> None:
        """Empty ``bucket`` until ``until`` (a provider's 429 and its ``Retry-After``)."""
        await self.penalise_many([(bucket, until)], now)

    async def penalise_many(self, items: Sequence[tuple[Bucket, datetime]], now: datetime) -> None:
        """:meth:`penalise` for each (bucket, until), in one round trip."""
        if not items:
            return
        for attempt in range(2):
            async with self._redis.pipeline(transaction=False) as pipe:
                for bucket, until in items:
                    key, interval = bucket_key(bucket), 1000.0 / bucket.rate
                    args = [_ms(now), _ms(until), interval, bucket.burst]
                    if self._cluster:
                        pipe.eval(_PENALISE, 1, key, *args)
                    else:
                        pipe.evalsha(self._penalise.sha, 1, key, *args)
                results = await pipe.execute(raise_on_error=False)
            if not any(isinstance(r, NoScriptError) for r in results):
                for r in results:
                    if isinstance(r, Exception):
                        raise r
                return
            if attempt == 0:
                await self._redis.script_load(_PENALISE)
        raise NoScriptError("the rate penalty script could not be loaded")

    @property
    def _share(self) -> float:
        return self._settings.bulk_share


def _ms(moment: datetime) -> int:
    return math.floor(moment.timestamp() * 1000)
