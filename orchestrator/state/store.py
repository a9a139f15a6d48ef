"""Redis access for the workers, each operation one round trip for a whole batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from orchestrator.engine.model import CustomerState
from orchestrator.state import keys

SEND_LEDGER_TTL_S = 30 * 24 * 3600

# For each (seen key, position): mark the id as seen by this record's position unless another
# position already holds it. A redelivery of the same record (same position) is not a duplicate.
_MARK_SEEN = """
local out = {}
for i, key in ipairs(KEYS) do
  local ok = redis.call('SET', key, ARGV[i + 1], 'NX', 'EX', ARGV[1])
  if ok then out[i] = 1 else
    if redis.call('GET', key) == ARGV[i + 1] then out[i] = 1 else out[i] = 0 end
  end
end
return out
"""

# For each identity key: keep the customer id already there, or claim it with the proposed one.
# KEYS holds n identity keys, then the n proposed customers' state keys; ARGV the n proposed ids,
# then n seed states. A customer created here starts with the address as its identity, so a flow
# can reach it before it has ever written to us (a business event about a new address).
_RESOLVE = """
local out = {}
local n = #ARGV / 2
for i = 1, n do
  local ok = redis.call('SET', KEYS[i], ARGV[i], 'NX')
  if ok then
    redis.call('SET', KEYS[n + i], ARGV[n + i], 'NX')
    out[i] = {ARGV[i], 1}
  else
    out[i] = {redis.call('GET', KEYS[i]), 0}
  end
end
return out
"""


@dataclass(frozen=True, slots=True)
class Resolution:
    """The customer an address belongs to, and whether it was created just now."""

    customer_id: str
    created: bool


@dataclass(frozen=True, slots=True)
class SendClaim:
    """The send ledger's answer: ``claimed`` to go ahead, else the entry that was there."""

    claimed: bool
    previous: dict[str, Any] | None


class RedisStateStore:
    """Customers, identities, dedupe markers and the send ledger, in Redis."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._mark_seen = redis.register_script(_MARK_SEEN)
        self._resolve = redis.register_script(_RESOLVE)

    async def mark_seen(self, items: Sequence[tuple[str, str, str]], ttl_s: int) -> list[bool]:
        """For (channel, provider id, record position) items, True where the id is new here."""
        if not items:
            return []
        result = await self._mark_seen(
            keys=[keys.inbound_seen_key(c, i) for c, i, _ in items],
            args=[ttl_s, *[pos for _, _, pos in items]],
        )
        return [bool(x) for x in result]

    async def resolve(self, items: Sequence[tuple[str, str, str]]) -> list[Resolution]:
        """For (channel, address, proposed new id) items, the customer each address belongs to.

        A customer created here is stored with ``{channel: address}`` as its identity.
        """
        if not items:
            return []
        seeds = [
            orjson.dumps({"customer_id": p, "identities": {c: a}}).decode() for c, a, p in items
        ]
        result = await self._resolve(
            keys=[
                *(keys.identity_key(c, a) for c, a, _ in items),
                *(keys.customer_key(p) for _, _, p in items),
            ],
            args=[*(p for _, _, p in items), *seeds],
        )
        return [Resolution(_text(cid), bool(created)) for cid, created in result]

    async def load_states(self, customer_ids: Sequence[str]) -> dict[str, CustomerState]:
        """Every customer's state in one round trip; a new customer gets an empty state."""
        unique = list(dict.fromkeys(customer_ids))
        async with self._redis.pipeline(transaction=False) as pipe:
            for cid in unique:
                pipe.get(keys.customer_key(cid))
            raw = await pipe.execute()
        return {
            cid: CustomerState.from_dict(orjson.loads(doc)) if doc else CustomerState(cid)
            for cid, doc in zip(unique, raw, strict=True)
        }

    async def save_states(self, states: Sequence[CustomerState]) -> None:
        """Write states in one round trip."""
        if not states:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for state in states:
                pipe.set(keys.customer_key(state.customer_id), orjson.dumps(state.to_dict()))
            await pipe.execute()

    async def claim_send(self, message_id: str, entry: dict[str, Any]) -> SendClaim:
        """Record that ``message_id`` is being sent, unless the ledger already has it."""
        key = keys.send_key(message_id)
        ok = await self._redis.set(key, orjson.dumps(entry), nx=True, ex=SEND_LEDGER_TTL_S)
        if ok:
            return SendClaim(True, None)
        previous = await self._redis.get(key)
        return SendClaim(False, orjson.loads(previous) if previous else None)

    async def finish_send(
        self, message_id: str, entry: dict[str, Any], provider: str, external_ids: Sequence[str]
    ) -> None:
        """Record a send's result, and map the provider's ids back to the message."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(keys.send_key(message_id), orjson.dumps(entry), ex=SEND_LEDGER_TTL_S)
            for ext in external_ids:
                pipe.set(
                    keys.external_id_key(provider, ext),
                    orjson.dumps(entry),
                    ex=SEND_LEDGER_TTL_S,
                )
            await pipe.execute()

    async def release_send(self, message_id: str) -> None:
        """Drop a claim whose provider call was never made, so that a later attempt sends it."""
        await self._redis.delete(keys.send_key(message_id))

    async def lookup_external(
        self, items: Sequence[tuple[str, str]]
    ) -> list[dict[str, Any] | None]:
        """For (provider, external id) pairs, the send ledger entry each belongs to."""
        if not items:
            return []
        raw = await self._redis.mget([keys.external_id_key(p, e) for p, e in items])
        return [orjson.loads(doc) if doc else None for doc in raw]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
