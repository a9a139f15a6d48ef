"""Each sent message's delivery status, which only ever moves forward.

Receipts arrive late and out of order (a provider's ``sent`` callback after its ``delivered``
one, a retried webhook, two providers' receipts for a failed-over message). The status worker
applies a receipt only when it moves the message forward in :data:`RANK`; a receipt that
does not is still recorded in the ledger (``status_stale``) but leaves the status as it is and
is not forwarded to flows.

The state is one sorted set per message, ``ct:mstatus:<message id>``: every status it has
had, scored by rank; the current status is the highest. A receipt is applied when adding it
changed the set (``ZADD CH``: a status seen before changes nothing) and it is now the highest,
so no script is needed and a redelivered receipt is a no-op. A batch is one round trip:
``ZADD``, ``EXPIRE`` and ``ZRANGE -1 -1`` per receipt, pipelined.

Example::

    verdicts = await advance(redis, [("msg_1", "delivered"), ("msg_1", "sent")])
    # [Advance(applied=True, current="delivered"), Advance(applied=False, current="delivered")]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.redis_client import RedisClient
from orchestrator.state import keys

RANK: Mapping[str, int] = {
    "unknown": 0,
    "queued": 10,
    "sent": 20,
    "undelivered": 30,
    "failed": 31,
    "delivered": 32,
    "read": 40,
}
"""How far along each status is. A final status (undelivered, failed, delivered) replaces an
earlier one; among them delivered ranks highest (a provider that failed one attempt and then
delivered has delivered), and read comes after delivered. ``unknown`` changes nothing once any
status is known."""

STATUS_TTL_S = 30 * 24 * 3600
"""As long as the send ledger keeps the message (``state.store.SEND_LEDGER_TTL_S``)."""


@dataclass(frozen=True, slots=True)
class Advance:
    """Whether a receipt moved its message forward, and the message's status after it."""

    applied: bool
    current: str


async def advance(redis: RedisClient, items: Sequence[tuple[str, str]]) -> list[Advance]:
    """Apply each (message id, status) in order, in one round trip; a status not in
    :data:`RANK` is treated as ``unknown``."""
    if not items:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        queue_advances(pipe, items)
        raw = await pipe.execute()
    return read_advances(items, raw)


def queue_advances(pipe: Any, items: Sequence[tuple[str, str]]) -> None:
    """Queue on ``pipe`` three commands per item (read the answers with :func:`read_advances`)."""
    for message_id, status in items:
        key = keys.message_status_key(message_id)
        name = status if status in RANK else "unknown"
        pipe.zadd(key, {name: RANK[name]}, ch=True)
        pipe.expire(key, STATUS_TTL_S)
        pipe.zrange(key, -1, -1)


def read_advances(items: Sequence[tuple[str, str]], raw: Sequence[Any]) -> list[Advance]:
    """The verdicts of the commands :func:`queue_advances` queued for ``items``."""
    verdicts = []
    for (_, status), i in zip(items, range(0, len(raw), 3), strict=True):
        changed, _, top = raw[i : i + 3]
        current = top[-1] if top else "unknown"
        current = current.decode() if isinstance(current, bytes) else str(current)
        name = status if status in RANK else "unknown"
        verdicts.append(Advance(bool(changed) and current == name, current))
    return verdicts


async def current(redis: RedisClient, message_ids: Sequence[str]) -> list[str | None]:
    """Each message's current status (None: no receipt yet), in one round trip."""
    if not message_ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for message_id in message_ids:
            pipe.zrange(keys.message_status_key(message_id), -1, -1)
        raw = await pipe.execute()
    out: list[str | None] = []
    for top in raw:
        value = top[-1] if top else None
        out.append(value.decode() if isinstance(value, bytes) else value)
    return out
