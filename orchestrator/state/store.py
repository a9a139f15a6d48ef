"""Redis access for the workers: each operation one round trip for a whole batch.

Every operation here is either a non-transactional pipeline of single-key commands (on a Redis
Cluster, redis-py splits it by node and sends the parts at once: still one round trip per
node, in parallel) or a transaction on the keys of one hash tag, so it all works on a single
Redis and on a Redis Cluster alike (:mod:`orchestrator.redis_client`).

Per batch, a worker stage makes at most two round trips: one read, one write; the dispatcher
four, each forced by an invariant (:mod:`orchestrator.workers.dispatcher`). The ``queue_*``
functions put an operation's commands on a caller's pipeline, so that operations that do not
depend on each other share one round trip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.asyncio import RedisCluster

from orchestrator.addresses import PHONE_CHANNELS
from orchestrator.engine.model import CustomerState
from orchestrator.infra import translated
from orchestrator.redis_client import RedisClient
from orchestrator.state import keys
from orchestrator.state.codec import dump_entry, dump_state, load_entry, load_state
from orchestrator.state.deferred import DeferredSend, queue_deferrals
from orchestrator.state.due_queue import queue_put, queue_remove
from orchestrator.state.message_status import Advance, advance
from orchestrator.state.timers import TimerSpec
from orchestrator.state.unknown_sends import UnknownSend, queue_forget, queue_unknowns

if TYPE_CHECKING:
    from orchestrator.state.protocols import Rider

SEND_LEDGER_TTL_S = 30 * 24 * 3600
MAX_REDIRECTS = 8
PARKED_RECEIPT_TTL_S = 24 * 3600
"""How long a receipt that came before its send's record waits for it (then it stays what the
ledger already says: unmatched)."""
PARKED_TAKE = 100
"""Receipts taken back at once per provider id (a message has a handful)."""
"""The longest chain of merges (a into b, b into c...) a look-up follows."""


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


@dataclass(frozen=True, slots=True)
class FinishedSend:
    """A send's result for the send ledger, and the provider's ids that map back to it."""

    message_id: str
    entry: dict[str, Any]
    provider: str
    external_ids: Sequence[str] = ()


@translated("redis")
class RedisStateStore:
    """Customers, identities, dedupe markers and the send ledger, in Redis."""

    def __init__(self, redis: RedisClient, *, share_phone_across_media: bool = True) -> None:
        self._redis = redis
        # A transaction may span customers only on a single Redis (one slot per customer).
        self._cluster = isinstance(redis, RedisCluster)
        self._share_phone = share_phone_across_media

    def identity_keys(self, channel: str, address: str) -> list[str]:
        """The identity keys of ``address`` on ``channel``: the first is the one written, the
        rest are read as fallbacks (read both, then write the new one).

        With ``share_phone_across_media`` (the default) an sms or whatsapp number lives under
        the ``phone`` namespace; the per-channel keys written before (``ct:ident:sms:...``, then
        ``ct:ident:whatsapp:...``) are read after it. With it off, the channel's own key comes
        first and the ``phone`` key is the fallback, so links made while it was on still hold.
        """
        if channel not in PHONE_CHANNELS:
            return [keys.identity_key(channel, address)]
        phone = keys.identity_key(keys.PHONE_NAMESPACE, address)
        own = keys.identity_key(channel, address)
        if not self._share_phone:
            return [own, phone]
        others = [keys.identity_key(c, address) for c in sorted(PHONE_CHANNELS) if c != channel]
        return [phone, own, *others]

    # -- inbound ---------------------------------------------------------------------------

    async def mark_seen(self, items: Sequence[tuple[str, str, str]], ttl_s: int) -> list[bool]:
        """For (channel, provider id, record position) items, True where the id is new here
        (or was marked by this same record position: a redelivery is not a duplicate)."""
        seen, _ = await self.admit_inbound(items, ttl_s, [])
        return seen

    async def resolve(self, items: Sequence[tuple[str, str, str]]) -> list[Resolution]:
        """For (channel, address, proposed new id) items, the customer each address belongs to.

        A customer created here is stored with ``{channel: address}`` as its identity.
        """
        _, resolutions = await self.admit_inbound([], 0, items)
        return resolutions

    async def admit_inbound(
        self,
        seen: Sequence[tuple[str, str, str]],
        ttl_s: int,
        resolve: Sequence[tuple[str, str, str]],
    ) -> tuple[list[bool], list[Resolution]]:
        """:meth:`mark_seen` and :meth:`resolve` together: one round trip, and a second only
        when customers were created (to store their first identity)."""
        if not seen and not resolve:
            return [], []
        key_sets = [self.identity_keys(channel, address) for channel, address, _ in resolve]
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel, provider_id, pos in seen:
                pipe.set(
                    keys.inbound_seen_key(channel, provider_id), pos, nx=True, ex=ttl_s, get=True
                )
            for (_, _, proposed), names in zip(resolve, key_sets, strict=True):
                pipe.set(names[0], proposed, nx=True, get=True)
                for fallback in names[1:]:
                    pipe.get(fallback)
            raw = await pipe.execute()
        marks = [
            old is None or _text(old) == pos
            for old, (_, _, pos) in zip(raw[: len(seen)], seen, strict=True)
        ]
        resolutions: list[Resolution] = []
        adopted: list[tuple[str, str]] = []  # (new key, the owner a fallback key named)
        created: list[tuple[str, str, str]] = []
        first: dict[str, str] = {}  # key -> the owner an earlier item of this batch found
        at = len(seen)
        for (channel, address, proposed), names in zip(resolve, key_sets, strict=True):
            old, fallbacks = raw[at], raw[at + 1 : at + len(names)]
            at += len(names)
            legacy = next((_text(f) for f in fallbacks if f is not None), None)
            if names[0] in first:  # one number on sms and whatsapp in one batch
                resolutions.append(Resolution(first[names[0]], False))
                continue
            if old is not None:
                resolutions.append(Resolution(_text(old), False))
            elif legacy is not None:
                # an identity written under an older key: the new key now names its owner
                resolutions.append(Resolution(legacy, False))
                adopted.append((names[0], legacy))
            else:
                resolutions.append(Resolution(proposed, True))
                created.append((channel, address, proposed))
            first[names[0]] = resolutions[-1].customer_id
        if created or adopted:
            async with self._redis.pipeline(transaction=False) as pipe:
                for name, owner in adopted:
                    pipe.set(name, owner)
                for channel, address, cid in created:
                    seed = CustomerState(cid, identities={channel: address})
                    pipe.set(keys.customer_key(cid), dump_state(seed), nx=True)
                await pipe.execute()
        return marks, resolutions

    async def owners(self, items: Sequence[tuple[str, str]]) -> list[str | None]:
        """For (channel, address) pairs, the customer id each belongs to, if any."""
        if not items:
            return []
        key_sets = [self.identity_keys(channel, address) for channel, address in items]
        async with self._redis.pipeline(transaction=False) as pipe:
            for names in key_sets:
                for name in names:
                    pipe.get(name)
            raw = await pipe.execute()
        found: list[str | None] = []
        at = 0
        for names in key_sets:
            owner = next((o for o in raw[at : at + len(names)] if o is not None), None)
            found.append(None if owner is None else _text(owner))
            at += len(names)
        return found

    # -- links and merges ------------------------------------------------------------------

    async def redirects(self, customer_ids: Sequence[str]) -> dict[str, str]:
        """For each id, the customer it now is: itself, or the survivor of the merges it went
        through (``ct:merged:{id}``, followed to the end of a chain)."""
        current = {cid: cid for cid in dict.fromkeys(customer_ids)}
        pending = list(current)
        for _ in range(MAX_REDIRECTS):
            if not pending:
                break
            async with self._redis.pipeline(transaction=False) as pipe:
                for cid in pending:
                    pipe.get(keys.merged_key(current[cid]))
                raw = await pipe.execute()
            moved = [(cid, _text(r)) for cid, r in zip(pending, raw, strict=True) if r]
            for cid, target in moved:
                current[cid] = target
            pending = [cid for cid, _ in moved]
        return current

    async def exists(self, customer_id: str) -> bool:
        """Whether a state is stored for ``customer_id``."""
        return bool(await self._redis.exists(keys.customer_key(customer_id)))

    async def link(self, customer_id: str, channel: str, address: str) -> None:
        """Point ``address`` on ``channel`` at ``customer_id`` (the key look-ups read first)."""
        await self._redis.set(self.identity_keys(channel, address)[0], customer_id)

    async def merge(self, survivor: str, other: str) -> CustomerState:
        """Redirect ``other`` to ``survivor`` and point all of ``other``'s identity keys at
        ``survivor``; ``other``'s state as stored (the caller hands it to the engine).

        Idempotent: run twice (a redelivery), it writes the same keys again. The redirect is
        written first, so a crash half-way leaves every later look-up of ``other`` going to
        ``survivor``, and the redelivered event finishes the identity keys.
        """
        await self._redis.set(keys.merged_key(other), survivor)
        state = (await self.load_states([other]))[other]
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel, address in state.identities.items():
                pipe.set(self.identity_keys(channel, address)[0], survivor)
            await pipe.execute()
        return state

    # -- customer state --------------------------------------------------------------------

    async def load_states(
        self, customer_ids: Sequence[str], *, rider: Rider | None = None
    ) -> dict[str, CustomerState]:
        """Every customer's state in one round trip; a new customer gets an empty state.
        ``rider``'s commands go first in the same pipeline."""
        unique = list(dict.fromkeys(customer_ids))
        if not unique and rider is None:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            if rider is not None:
                rider.queue(pipe)
            riding = len(pipe)
            for cid in unique:
                pipe.get(keys.customer_key(cid))
            raw = await pipe.execute() if len(pipe) else []
        if rider is not None:
            rider.read(raw[:riding])
        docs = raw[riding:]
        return {cid: load_state(cid, doc) for cid, doc in zip(unique, docs, strict=True)}

    async def save_states(
        self,
        states: Sequence[CustomerState],
        *,
        schedule: Sequence[TimerSpec] = (),
        cancel: Sequence[str] = (),
    ) -> None:
        """Write states, after the timer changes their runs depend on.

        On a single Redis this is one transaction (timers, then states). On a Redis Cluster the
        customers live in many slots, so the timers (one slot, ``{timers}``) go first in a
        round trip of their own when there are any, and the states follow in a second.
        """
        timers = bool(schedule or cancel)
        if not states and not timers:
            return
        if timers and self._cluster:
            async with self._redis.pipeline(transaction=True) as pipe:
                _timer_changes(pipe, schedule, cancel)
                await pipe.execute()
            timers = False
        if not states and not timers:
            return
        async with self._redis.pipeline(transaction=not self._cluster) as pipe:
            if timers:
                _timer_changes(pipe, schedule, cancel)
            for state in states:
                pipe.set(keys.customer_key(state.customer_id), dump_state(state))
            await pipe.execute()

    async def iter_states(self, count: int = 1000) -> AsyncIterator[CustomerState]:
        """Every stored customer (SCAN over every node, then GETs in one pipeline per chunk)."""
        chunk: list[bytes | str] = []
        async for name in self._redis.scan_iter(match=keys.customer_key_pattern(), count=count):
            chunk.append(name)
            if len(chunk) >= count:
                for state in await self._get_states(chunk):
                    yield state
                chunk = []
        for state in await self._get_states(chunk):
            yield state

    async def _get_states(self, names: Sequence[bytes | str]) -> list[CustomerState]:
        if not names:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.get(name)
            raw = await pipe.execute()
        return [load_state("", doc) for doc in raw if doc]

    # -- the send ledger -------------------------------------------------------------------

    async def claim_send(self, message_id: str, entry: dict[str, Any]) -> SendClaim:
        """Record that ``message_id`` is being sent, unless the ledger already has it."""
        return (await self.claim_sends([(message_id, entry)]))[0]

    async def claim_sends(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[SendClaim]:
        """:meth:`claim_send` for (message id, entry) items, in one round trip."""
        if not items:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            queue_claims(pipe, items)
            raw = await pipe.execute()
        return read_claims(raw)

    async def finish_send(
        self, message_id: str, entry: dict[str, Any], provider: str, external_ids: Sequence[str]
    ) -> None:
        """Record a send's result, and map the provider's ids back to the message."""
        await self.finish_sends([FinishedSend(message_id, entry, provider, tuple(external_ids))])

    async def finish_sends(self, sends: Sequence[FinishedSend]) -> list[bytes]:
        """:meth:`finish_send` for many sends, in one round trip; the receipts parked for them
        (:meth:`settle_sends`)."""
        return await self.settle_sends(sends)

    async def release_send(self, message_id: str) -> None:
        """Drop a claim whose provider call was never made, so that a later attempt sends it."""
        await self.release_sends([message_id])

    async def release_sends(self, message_ids: Sequence[str]) -> None:
        """:meth:`release_send` for many messages, in one round trip (one DEL per key, as a
        multi-key DEL would span slots on a cluster)."""
        await self.settle_sends((), released=message_ids)

    async def settle_sends(
        self,
        sends: Sequence[FinishedSend],
        *,
        released: Sequence[str] = (),
        deferred: Sequence[DeferredSend] = (),
        rider: Rider | None = None,
        unknown: Sequence[UnknownSend] = (),
        known: Sequence[str] = (),
    ) -> list[bytes]:
        """The end of a dispatcher batch in one round trip: sends to put back in the deferred
        queue (atomically, one script on ``{deferred}``), claims to release, results to record,
        sends whose outcome is ``unknown`` to index and sends now known to drop from that index
        (:mod:`.unknown_sends`); give back the receipts that came before their send was
        recorded (raw events), taken. ``rider``'s commands go first in the same pipeline."""
        if not (sends or released or deferred or unknown or known) and rider is None:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            if rider is not None:
                rider.queue(pipe)
            riding = len(pipe)
            queue_deferrals(pipe, deferred)
            queue_releases(pipe, released)
            queue_unknowns(pipe, unknown)
            queue_forget(pipe, known)
            queue_finishes(pipe, sends)
            taking = queue_take_parked(pipe, sends)
            answers = await pipe.execute() if len(pipe) else []
        if rider is not None:
            rider.read(answers[:riding])
        return [raw for taken in answers[len(answers) - taking :] for raw in taken or ()]

    def pipeline(self) -> Any:
        """A non-transactional pipeline on this store's client, for callers that put the
        commands of several operations (``queue_*`` here and in :mod:`..policy_counters`,
        :mod:`..deferred`) in one round trip."""
        return self._redis.pipeline(transaction=False)

    async def advance_statuses(self, items: Sequence[tuple[str, str]]) -> list[Advance]:
        """Apply (message id, status) receipts in order, each only if it moves its message
        forward (:mod:`.message_status`), in one round trip."""
        return await advance(self._redis, items)

    async def park_receipts(
        self, items: Sequence[tuple[str, str, bytes]], ttl_s: int = PARKED_RECEIPT_TTL_S
    ) -> list[bytes]:
        """Keep receipts (provider, external id, raw event) that matched no send: the dispatcher
        takes them back when it records the send (:func:`queue_take_parked`). Give back those
        whose send was recorded meanwhile, taken here instead (each is taken once: ``LPOP``)."""
        if not items:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for provider, external_id, raw in items:
                key = keys.parked_receipts_key(provider, external_id)
                pipe.rpush(key, raw)
                pipe.expire(key, ttl_s)
                pipe.exists(keys.external_id_key(provider, external_id))
            found = (await pipe.execute())[2::3]
        now_known = [(p, x) for (p, x, _), hit in zip(items, found, strict=True) if hit]
        if not now_known:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for provider, external_id in dict.fromkeys(now_known):
                pipe.lpop(keys.parked_receipts_key(provider, external_id), PARKED_TAKE)
            return [raw for taken in await pipe.execute() for raw in taken or ()]

    async def lookup_external(
        self, items: Sequence[tuple[str, str]]
    ) -> list[dict[str, Any] | None]:
        """For (provider, external id) pairs, the send ledger entry each belongs to."""
        if not items:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for provider, external_id in items:
                pipe.get(keys.external_id_key(provider, external_id))
            raw = await pipe.execute()
        return [load_entry(doc) if doc else None for doc in raw]


def queue_claims(pipe: Any, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Queue on ``pipe`` one ``SET NX GET`` per (message id, entry): a claim in the send ledger
    (read the answers with :func:`read_claims`)."""
    for message_id, entry in items:
        pipe.set(
            keys.send_key(message_id), dump_entry(entry), nx=True, ex=SEND_LEDGER_TTL_S, get=True
        )


def read_claims(raw: Sequence[Any]) -> list[SendClaim]:
    """The claims answered by the commands :func:`queue_claims` queued."""
    return [
        SendClaim(True, None) if old is None else SendClaim(False, load_entry(old)) for old in raw
    ]


def queue_finishes(pipe: Any, sends: Sequence[FinishedSend]) -> None:
    """Queue on ``pipe`` the writes of sends' results and of their provider ids."""
    for send in sends:
        doc = dump_entry(send.entry)
        pipe.set(keys.send_key(send.message_id), doc, ex=SEND_LEDGER_TTL_S)
        for ext in send.external_ids:
            pipe.set(keys.external_id_key(send.provider, ext), doc, ex=SEND_LEDGER_TTL_S)


def queue_take_parked(pipe: Any, sends: Sequence[FinishedSend]) -> int:
    """Queue on ``pipe`` one ``LPOP`` per provider id of ``sends``: the receipts parked for it
    (:meth:`RedisStateStore.park_receipts`); give the number of answers queued (the last ones)."""
    count = 0
    for send in sends:
        for ext in send.external_ids:
            pipe.lpop(keys.parked_receipts_key(send.provider, ext), PARKED_TAKE)
            count += 1
    return count


def queue_releases(pipe: Any, message_ids: Sequence[str]) -> None:
    """Queue on ``pipe`` one DEL per released claim."""
    for message_id in message_ids:
        pipe.delete(keys.send_key(message_id))


def _timer_changes(pipe: Any, schedule: Sequence[TimerSpec], cancel: Sequence[str]) -> None:
    due, leased, data = keys.timers_due_key(), keys.timers_leased_key(), keys.timer_data_key()
    queue_remove(pipe, due, leased, data, cancel)
    queue_put(pipe, due, leased, data, [(t.timer_id, t.due, t.to_json()) for t in schedule])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
