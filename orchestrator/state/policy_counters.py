"""Frequency caps and the loop guard at send time, counted atomically in Redis.

One Lua script per message checks every sliding window the message must fit (see
:func:`orchestrator.policy.send_time.counters_for`) and, only if all of them have room, adds the
message id to each. Members are message ids (``ZADD NX``), and a message already counted passes
again, so a redelivered message neither counts twice nor trips its own cap. All of one
customer's counters share the ``{customer id}`` hash tag, so the script works on Redis Cluster.

Example::

    counters = PolicyCounters(redis)
    admission = await counters.admit("c42", "msg_1", send_time.counters_for(policy, msg), now)
    if not admission.ok:
        verdict = send_time.over_limit(admission.counter, admission.until)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import RedisCluster
from redis.exceptions import NoScriptError

from orchestrator.infra import translated
from orchestrator.policy.send_time import Counter
from orchestrator.redis_client import RedisClient
from orchestrator.state import keys

# KEYS: one sorted set per counter. ARGV: now ms, member, then (limit, window ms) per key.
# Returns {0, 0} when admitted (and counted), else {index of the full counter, ms when its
# oldest counted entry that matters leaves the window}.
_ADMIT = """
local now, member = tonumber(ARGV[1]), ARGV[2]
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if not redis.call('ZSCORE', key, member) then
    local count = redis.call('ZCARD', key)
    if count >= limit then
      if limit == 0 or count == 0 then return {i, now + window} end
      local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
      return {i, tonumber(oldest[2]) + window}
    end
  end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'NX', now, member)
  redis.call('PEXPIRE', key, ARGV[2 + 2 * i])
end
return {0, 0}
"""


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a message fits every counter; if not, which one is full and until when."""

    ok: bool
    counter: Counter | None = None
    until: datetime | None = None


ADMITTED = Admission(True)


def counter_key(customer_id: str, counter: Counter) -> str:
    """The Redis key of one customer's counter."""
    if counter.kind == "cap":
        cap_id, _, scope = counter.scope.partition(":")
        return keys.cap_counter_key(customer_id, cap_id, scope)
    return keys.identical_text_key(customer_id, counter.scope)


@translated("redis")
class PolicyCounters:
    """Sliding-window counters per customer; each admission is one round trip, and
    :meth:`admit_many` admits a whole batch in one."""

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._cluster = isinstance(redis, RedisCluster)
        self._admit = redis.register_script(_ADMIT)

    async def admit(
        self, customer_id: str, member: str, counters: Sequence[Counter], now: datetime
    ) -> Admission:
        """Count ``member`` in every counter if all have room; else say which one is full."""
        if not counters:
            return ADMITTED
        args = _args(member, counters, now)
        result = await self._admit(keys=[counter_key(customer_id, c) for c in counters], args=args)
        return _admission(counters, result)

    async def admit_many(
        self, items: Sequence[tuple[str, str, Sequence[Counter]]], now: datetime
    ) -> list[Admission]:
        """:meth:`admit` for (customer id, member, counters) items, in one round trip: one
        script call per item in a non-transactional pipeline (each on one customer's slot), run
        in order, so a customer's messages are counted in the order given."""
        for attempt in range(2):
            async with self._redis.pipeline(transaction=False) as pipe:
                todo = self.queue(pipe, items, now)
                if not todo:
                    return [ADMITTED] * len(items)
                results = await pipe.execute(raise_on_error=False)
            admissions = self.read(items, todo, results)
            if admissions is not None:
                return admissions
            if attempt == 0:
                # A server that restarted or flushed its scripts: load it (on every primary of
                # a cluster) and run the batch again; admitting a member twice is a no-op.
                await self._redis.script_load(_ADMIT)
        raise NoScriptError("the admission script could not be loaded")

    def queue(
        self, pipe: Any, items: Sequence[tuple[str, str, Sequence[Counter]]], now: datetime
    ) -> list[int]:
        """Queue on ``pipe`` (non-transactional, run with ``raise_on_error=False``) the
        admissions of the items that have counters; their indices in ``items``, in the order
        queued (for :meth:`read`)."""
        todo = [i for i, (_, _, counters) in enumerate(items) if counters]
        for i in todo:
            cid, member, counters = items[i]
            names = [counter_key(cid, c) for c in counters]
            args = _args(member, counters, now)
            if self._cluster:  # redis-py's cluster pipeline refuses EVALSHA
                pipe.eval(_ADMIT, len(names), *names, *args)
            else:
                pipe.evalsha(self._admit.sha, len(names), *names, *args)
        return todo

    def read(
        self,
        items: Sequence[tuple[str, str, Sequence[Counter]]],
        todo: Sequence[int],
        results: Sequence[Any],
    ) -> list[Admission] | None:
        """The admissions :meth:`queue` asked for, from their results; None if the server did
        not have the script (then :meth:`admit_many` loads it and admits again: a member
        already counted passes)."""
        if any(isinstance(r, NoScriptError) for r in results):
            return None
        out = [ADMITTED] * len(items)
        for i, result in zip(todo, results, strict=True):
            if isinstance(result, Exception):
                raise result
            out[i] = _admission(items[i][2], result)
        return out


def _args(member: str, counters: Sequence[Counter], now: datetime) -> list[int | str]:
    args: list[int | str] = [_ms(now), member]
    for c in counters:
        args += [c.limit, max(1, int(c.window.total_seconds() * 1000))]
    return args


def _admission(counters: Sequence[Counter], result: Sequence[Any]) -> Admission:
    failed, until_ms = result
    if not failed:
        return ADMITTED
    until = datetime.fromtimestamp(int(until_ms) / 1000, UTC)
    return Admission(False, counters[int(failed) - 1], until)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
