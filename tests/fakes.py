"""In-memory stand-ins for what the workers use of Redis, the broker, the clock and a provider.

Each implements a Protocol of :mod:`orchestrator.state.protocols` with the semantics of the
Redis code it replaces (the Lua scripts and pipelines of ``orchestrator/state/``), so a worker
behaviour tested against these is tested again, unchanged, against real Redis and Tansu
(``tests/worker_behaviour.py``). What they leave out: TTLs never expire (a test that needs an
expiry calls :meth:`FakeStateStore.expire_seen`), and there is no Redis Cluster.

Example::

    clock, store = FakeClock(), FakeStateStore()
    publisher = RecordingPublisher()
    worker = InboundWorker(deps(store, clock), publisher)
    await process(worker, records)
    assert publisher.topics() == [topics.customer]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar, cast

from channels.base import OutboundMessage, SendResult
from channels.errors import SendError
from orchestrator.delivery import breaker
from orchestrator.doorbell import Doorbell
from orchestrator.engine.model import CustomerState
from orchestrator.events import AuditRecord, CloudEvent
from orchestrator.policy.send_time import Counter
from orchestrator.settings import BreakerSettings
from orchestrator.state import breakers, keys
from orchestrator.state.codec import dump_state, load_entry, load_state
from orchestrator.state.deferred import DeferredSend, queue_deferrals
from orchestrator.state.due_queue import ms
from orchestrator.state.message_status import RANK, Advance
from orchestrator.state.policy_counters import ADMITTED, Admission, counter_key
from orchestrator.state.protocols import EventPublisher, Rider
from orchestrator.state.store import (
    MAX_REDIRECTS,
    PARKED_TAKE,
    FinishedSend,
    RedisStateStore,
    Resolution,
    queue_claims,
    queue_finishes,
    queue_releases,
    queue_take_parked,
    read_claims,
)
from orchestrator.state.timers import TimerSpec
from orchestrator.state.unknown_sends import _PUT as UNKNOWN_PUT
from orchestrator.state.unknown_sends import UnknownSend, queue_forget, queue_unknowns

START = datetime(2026, 11, 22, 12, tzinfo=UTC)  # a Sunday, noon UTC


@dataclass
class FakeRecord:
    """A consumed Kafka record, as a worker's ``handle`` takes it."""

    topic: str = "t"
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    value: bytes | None = b"{}"
    headers: Sequence[tuple[str, bytes]] = ()


class FakeClock:
    """A clock that moves only when told: ``clock()`` is now, ``clock.advance(s)`` moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(seconds=seconds)


class SeqIds:
    """Ids ``<prefix>1``, ``<prefix>2``, ... (the ``new_id`` of a worker's ``Deps``)."""

    def __init__(self, prefix: str = "cus_") -> None:
        self._prefix, self._n = prefix, 0

    def __call__(self) -> str:
        self._n += 1
        return f"{self._prefix}{self._n}"


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


class FakeDueQueue:
    """:class:`orchestrator.state.due_queue.DueQueue` in memory: due, leased and payloads."""

    def __init__(self) -> None:
        self.due: dict[str, int] = {}  # id -> due ms
        self.leased: dict[str, int] = {}  # id -> lease expiry ms
        self.data: dict[str, bytes] = {}

    def put(self, items: Sequence[tuple[str, int, bytes]]) -> None:
        """(id, due ms, payload): the payload first, then due (not leased any more)."""
        for item_id, due_ms, payload in items:
            self.data[item_id] = payload
            self.leased.pop(item_id, None)
            self.due[item_id] = due_ms

    def remove(self, ids: Sequence[str]) -> None:
        for item_id in ids:
            self.due.pop(item_id, None)
            self.leased.pop(item_id, None)
            self.data.pop(item_id, None)

    def claim(self, now: datetime, limit: int, lease_s: float) -> list[bytes]:
        now_ms, out = ms(now), []
        for item_id in self._upto(self.due, now_ms)[:limit]:
            del self.due[item_id]
            if item_id in self.data:
                self.leased[item_id] = now_ms + int(lease_s * 1000)
                out.append(self.data[item_id])
        return out

    async def ack(self, ids: Sequence[str], /) -> None:
        """Forget handled items, keeping the payload of one scheduled again meanwhile."""
        for item_id in ids:
            self.leased.pop(item_id, None)
            if item_id not in self.due:
                self.data.pop(item_id, None)

    async def next_due(self) -> datetime | None:
        return _from_ms(min(self.due.values())) if self.due else None

    async def requeue_expired(self, now: datetime, limit: int = 10_000) -> int:
        expired = self._upto(self.leased, ms(now))[:limit]
        for item_id in expired:
            del self.leased[item_id]
            self.due.setdefault(item_id, ms(now))  # ZADD NX
        return len(expired)

    async def counts(self, now: datetime) -> dict[str, int]:
        overdue = len(self._upto(self.due, ms(now)))
        return {"waiting": len(self.due) - overdue, "due": overdue, "leased": len(self.leased)}

    @staticmethod
    def _upto(scores: dict[str, int], limit_ms: int) -> list[str]:
        """Ids scored at most ``limit_ms``, as ``ZRANGEBYSCORE`` orders them."""
        return [
            i for i, s in sorted(scores.items(), key=lambda kv: (kv[1], kv[0])) if s <= limit_ms
        ]


class FakeTimers(FakeDueQueue):
    """:class:`orchestrator.state.timers.RedisTimerStore` in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.added = Doorbell()

    async def schedule(self, timers: Sequence[TimerSpec]) -> None:
        self.put([(t.timer_id, ms(t.due), t.to_json()) for t in timers])
        if timers:
            self.added.ring()

    async def cancel(self, timer_ids: Sequence[str]) -> None:
        self.remove(timer_ids)

    async def claim_due(
        self, now: datetime, limit: int = 500, lease_s: float = 30.0
    ) -> list[TimerSpec]:
        return [TimerSpec.from_json(doc) for doc in self.claim(now, limit, lease_s)]

    async def pending(self, customer_id: str | None = None) -> list[TimerSpec]:
        timers = [TimerSpec.from_json(doc) for doc in self.data.values()]
        timers = [t for t in timers if customer_id is None or t.customer_id == customer_id]
        return sorted(timers, key=lambda t: (t.due, t.timer_id))


class FakeDeferredSends(FakeDueQueue):
    """:class:`orchestrator.state.deferred.DeferredSends` in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.added = Doorbell()

    async def defer(self, sends: Sequence[DeferredSend]) -> None:
        self.put([(s.message_id, ms(s.due), s.to_json()) for s in sends])
        if sends:
            self.added.ring()

    async def claim_due(
        self, now: datetime, limit: int = 500, lease_s: float = 30.0
    ) -> list[DeferredSend]:
        return [DeferredSend.from_json(doc) for doc in self.claim(now, limit, lease_s)]

    async def pending(self) -> list[DeferredSend]:
        sends = [DeferredSend.from_json(doc) for doc in self.data.values()]
        return sorted(sends, key=lambda s: (s.due, s.message_id))


class FakeBreakers:
    """The breakers' scripts (:mod:`orchestrator.state.breakers`), answered by the pure state
    machine they mirror (:mod:`orchestrator.delivery.breaker`), per breaker key."""

    def __init__(self) -> None:
        self.states: dict[str, breaker.Breaker] = {}

    def run(self, script: str, key: str, args: Sequence[Any]) -> list[Any]:
        """One script's answer, as Redis gives it."""
        b = self.states.get(key, breaker.Breaker())
        now = int(args[0])
        if script == breakers.VIEW:
            cool = BreakerSettings(cool_down_s=int(args[2]) / 1000, probes=int(args[3]))
            b, slots, moved = breaker.view(b, now, int(args[1]), cool)
            self.states[key] = b
            return [b.state.encode(), str(b.since_ms).encode(), slots, int(bool(moved))]
        rules = BreakerSettings(
            window_s=int(args[1]) / 1000,
            min_calls=int(args[2]),
            error_rate=float(args[3]),
            consecutive_failures=int(args[4]),
        )
        b, moved = breaker.record(b, [str(r) for r in args[5:]], now, rules)  # type: ignore[misc]
        self.states[key] = b
        return [b.state.encode(), *(m.encode() for m in moved)]


class FakePipeline:
    """The commands the ``queue_*`` helpers of ``state/`` put on a pipeline, run in order on
    :meth:`execute` against a :class:`FakeStateStore` (``set``, ``delete``, the deferred
    sends' ``eval``), plus :meth:`call` for the fakes' own operations."""

    def __init__(self, store: FakeStateStore) -> None:
        self._store = store
        self._ops: list[Callable[[], Any]] = []

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._ops.clear()

    def __len__(self) -> int:
        return len(self._ops)

    def call(self, op: Callable[[], Any]) -> None:
        """Queue ``op``; its return value is its result."""
        self._ops.append(op)

    def set(
        self, name: str, value: bytes, *, nx: bool = False, ex: int | None = None, get: bool = False
    ) -> None:
        def op() -> Any:
            old = self._store.strings.get(name)
            if not (nx and old is not None):
                self._store.strings[name] = value
            return old if get else old is None or not nx

        self.call(op)

    def delete(self, name: str) -> None:
        self.call(lambda: int(self._store.strings.pop(name, None) is not None))

    def rpush(self, name: str, value: bytes) -> None:
        def op() -> int:
            self._store.lists.setdefault(name, []).append(value)
            return len(self._store.lists[name])

        self.call(op)

    def expire(self, name: str, seconds: int) -> None:
        self.call(lambda: int(name in self._store.lists or name in self._store.strings))

    def exists(self, name: str) -> None:
        self.call(lambda: int(name in self._store.strings or name in self._store.lists))

    def lpop(self, name: str, count: int) -> None:
        def op() -> list[bytes] | None:
            items = self._store.lists.get(name, [])
            taken, rest = items[:count], items[count:]
            if rest:
                self._store.lists[name] = rest
            else:
                self._store.lists.pop(name, None)
            return taken or None

        self.call(op)

    def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> None:
        names, args = keys_and_args[:numkeys], keys_and_args[numkeys:]
        if script in (breakers.VIEW, breakers.RECORD):
            self.call(lambda: self._store.breakers.run(script, str(names[0]), args))
            return
        if tuple(names[:1]) == (keys.unknown_due_key(),):
            self.call(lambda: self._store.index_unknown(script, args))
            return
        if tuple(names[:1]) != (keys.deferred_due_key(),):
            raise NotImplementedError(f"FakePipeline.eval on {names!r}")
        triples = [(str(args[i]), int(args[i + 1]), args[i + 2]) for i in range(0, len(args), 3)]

        def op() -> int:
            self._store.deferred.put(triples)
            return len(triples)

        self.call(op)

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        ops, self._ops = self._ops, []
        results: list[Any] = []
        for op in ops:
            try:
                results.append(op())
            except Exception as exc:  # a pipeline answers each command, errors included
                if raise_on_error:
                    raise
                results.append(exc)
        self._store.round_trips += 1
        return results


@dataclass
class FakeStateStore:
    """:class:`orchestrator.state.store.RedisStateStore` in memory.

    States are kept in their stored form (``dump_state``), identities under the same keys
    (:meth:`RedisStateStore.identity_keys`), and the send ledger and provider ids as the
    strings the ``queue_*`` helpers write, so a round trip through the codec is tested too.
    """

    share_phone_across_media: bool = True
    timers: FakeTimers = field(default_factory=FakeTimers)
    deferred: FakeDeferredSends = field(default_factory=FakeDeferredSends)
    docs: dict[str, bytes] = field(default_factory=dict)  # customer id -> stored state
    identities: dict[str, str] = field(default_factory=dict)  # identity key -> customer id
    seen: dict[str, str] = field(default_factory=dict)  # inbound seen key -> record position
    lists: dict[str, list[bytes]] = field(default_factory=dict)  # receipts parked per provider id
    merged: dict[str, str] = field(default_factory=dict)  # merged-away id -> survivor
    strings: dict[str, bytes] = field(default_factory=dict)  # send ledger and provider ids
    statuses: dict[str, set[str]] = field(default_factory=dict)  # message id -> statuses had
    breakers: FakeBreakers = field(default_factory=lambda: FakeBreakers())
    round_trips: int = 0
    unknown: dict[str, bytes] = field(default_factory=dict)  # the unknown sends' index

    def index_unknown(self, script: str, args: Sequence[Any]) -> int:
        """The index scripts of :mod:`orchestrator.state.unknown_sends`: add or forget."""
        if script == UNKNOWN_PUT:
            fresh = [i for i in range(0, len(args), 3) if str(args[i]) not in self.unknown]
            self.unknown.update({str(args[i]): args[i + 2] for i in fresh})
            return len(fresh)
        return sum(self.unknown.pop(str(a), None) is not None for a in args)

    def identity_keys(self, channel: str, address: str) -> list[str]:
        """The real store's identity keys (the first written, the rest read as fallbacks)."""
        real = RedisStateStore(
            cast(Any, None), share_phone_across_media=self.share_phone_across_media
        )
        return real.identity_keys(channel, address)

    def state(self, customer_id: str) -> CustomerState:
        """A customer's stored state (an empty one when there is none)."""
        return load_state(customer_id, self.docs.get(customer_id))

    def put_state(self, state: CustomerState) -> None:
        """Store a state as the decision worker would."""
        self.docs[state.customer_id] = dump_state(state)

    def expire_seen(self) -> None:
        """The dedupe window ran out for every inbound id."""
        self.seen.clear()

    def pipeline(self) -> FakePipeline:
        return FakePipeline(self)

    # -- inbound ---------------------------------------------------------------------------

    async def admit_inbound(
        self,
        seen: Sequence[tuple[str, str, str]],
        ttl_s: int,
        resolve: Sequence[tuple[str, str, str]],
    ) -> tuple[list[bool], list[Resolution]]:
        """As the real one: ``SET NX GET`` per id and per first identity key (which so holds
        the proposed id from the first round trip on), reads of the fallback keys, then the
        adopted keys and the created customers' seed states."""
        if not seen and not resolve:
            return [], []
        self.round_trips += 1
        marks = []
        for channel, provider_id, pos in seen:
            marked = self.seen.setdefault(keys.inbound_seen_key(channel, provider_id), pos)
            marks.append(marked == pos)
        resolutions: list[Resolution] = []
        first: dict[str, str] = {}
        writes = False
        for channel, address, proposed in resolve:
            names = self.identity_keys(channel, address)
            owner = self.identities.get(names[0])
            self.identities.setdefault(names[0], proposed)
            legacy = next((self.identities[n] for n in names[1:] if n in self.identities), None)
            if names[0] in first:
                resolutions.append(Resolution(first[names[0]], False))
                continue
            if owner is not None:
                resolutions.append(Resolution(owner, False))
            elif legacy is not None:
                resolutions.append(Resolution(legacy, False))
                self.identities[names[0]] = legacy
                writes = True
            else:
                resolutions.append(Resolution(proposed, True))
                seed = CustomerState(proposed, identities={channel: address})
                self.docs.setdefault(proposed, dump_state(seed))
                writes = True
            first[names[0]] = resolutions[-1].customer_id
        self.round_trips += writes
        return marks, resolutions

    async def mark_seen(self, items: Sequence[tuple[str, str, str]], ttl_s: int) -> list[bool]:
        return (await self.admit_inbound(items, ttl_s, []))[0]

    async def resolve(self, items: Sequence[tuple[str, str, str]]) -> list[Resolution]:
        return (await self.admit_inbound([], 0, items))[1]

    async def owners(self, items: Sequence[tuple[str, str]]) -> list[str | None]:
        found: list[str | None] = []
        for channel, address in items:
            names = self.identity_keys(channel, address)
            found.append(next((self.identities[n] for n in names if n in self.identities), None))
        return found

    # -- links and merges ------------------------------------------------------------------

    async def redirects(self, customer_ids: Sequence[str]) -> dict[str, str]:
        current = {cid: cid for cid in dict.fromkeys(customer_ids)}
        for cid in current:
            for _ in range(MAX_REDIRECTS):
                if current[cid] not in self.merged:
                    break
                current[cid] = self.merged[current[cid]]
        return current

    async def exists(self, customer_id: str) -> bool:
        return customer_id in self.docs

    async def link(self, customer_id: str, channel: str, address: str) -> None:
        self.identities[self.identity_keys(channel, address)[0]] = customer_id

    async def merge(self, survivor: str, other: str) -> CustomerState:
        self.merged[other] = survivor
        state = self.state(other)
        for channel, address in state.identities.items():
            self.identities[self.identity_keys(channel, address)[0]] = survivor
        return state

    # -- customer state --------------------------------------------------------------------

    async def load_states(
        self, customer_ids: Sequence[str], *, rider: Rider | None = None
    ) -> dict[str, CustomerState]:
        if rider is not None:  # its commands and the states: one round trip
            async with self.pipeline() as pipe:
                rider.queue(pipe)
                rider.read(await pipe.execute())
            self.round_trips -= not customer_ids
        if customer_ids:
            self.round_trips += 1
        return {cid: self.state(cid) for cid in dict.fromkeys(customer_ids)}

    async def save_states(
        self,
        states: Sequence[CustomerState],
        *,
        schedule: Sequence[TimerSpec] = (),
        cancel: Sequence[str] = (),
    ) -> None:
        """Timer changes first, then the states (one transaction on a single Redis)."""
        if not states and not schedule and not cancel:
            return
        self.round_trips += 1
        self.timers.remove(cancel)
        self.timers.put([(t.timer_id, ms(t.due), t.to_json()) for t in schedule])
        for state in states:
            self.put_state(state)

    # -- the send ledger and message statuses ----------------------------------------------

    def send_entry(self, message_id: str) -> dict[str, Any] | None:
        """The send ledger's entry for a message, if any."""
        doc = self.strings.get(keys.send_key(message_id))
        return load_entry(doc) if doc else None

    async def claim_sends(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
        async with self.pipeline() as pipe:
            queue_claims(pipe, items)
            return read_claims(await pipe.execute())

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
        if not (sends or released or deferred or unknown or known) and rider is None:
            return []
        async with self.pipeline() as pipe:
            if rider is not None:
                rider.queue(pipe)
            riding = len(pipe)
            queue_deferrals(pipe, deferred)
            queue_releases(pipe, released)
            queue_unknowns(pipe, unknown)
            queue_forget(pipe, known)
            queue_finishes(pipe, sends)
            taking = queue_take_parked(pipe, sends)
            answers = await pipe.execute()
        if rider is not None:
            rider.read(answers[:riding])
        return [raw for taken in answers[len(answers) - taking :] for raw in taken or ()]

    async def park_receipts(
        self, items: Sequence[tuple[str, str, bytes]], ttl_s: int = 24 * 3600
    ) -> list[bytes]:
        """The Redis store's parking: kept per provider id, taken once, by whoever is second."""
        if not items:
            return []
        async with self.pipeline() as pipe:
            for provider, external_id, raw in items:
                pipe.rpush(keys.parked_receipts_key(provider, external_id), raw)
                pipe.exists(keys.external_id_key(provider, external_id))
            found = (await pipe.execute())[1::2]
        known = [(p, x) for (p, x, _), hit in zip(items, found, strict=True) if hit]
        async with self.pipeline() as pipe:
            for provider, external_id in dict.fromkeys(known):
                pipe.lpop(keys.parked_receipts_key(provider, external_id), PARKED_TAKE)
            return [raw for taken in await pipe.execute() for raw in taken or ()]

    async def advance_statuses(self, items: Sequence[tuple[str, str]]) -> list[Advance]:
        """A receipt applies when its status is new for the message and now ranks highest."""
        if items:
            self.round_trips += 1
        verdicts = []
        for message_id, status in items:
            name = status if status in RANK else "unknown"
            had = self.statuses.setdefault(message_id, set())
            changed = name not in had
            had.add(name)
            current = max(had, key=lambda s: (RANK[s], s))
            verdicts.append(Advance(changed and current == name, current))
        return verdicts

    async def lookup_external(
        self, items: Sequence[tuple[str, str]]
    ) -> list[dict[str, Any] | None]:
        if items:
            self.round_trips += 1
        docs = [self.strings.get(keys.external_id_key(p, ext)) for p, ext in items]
        return [load_entry(doc) if doc else None for doc in docs]


class FakePolicyCounters:
    """:class:`orchestrator.state.policy_counters.PolicyCounters` in memory: the admission
    script's sliding windows, run on a :class:`FakePipeline` in the order queued."""

    def __init__(self) -> None:
        self.windows: dict[str, dict[str, int]] = {}  # counter key -> member -> ms counted

    def admit(
        self, customer_id: str, member: str, counters: Sequence[Counter], now: datetime
    ) -> list[int]:
        """The script's answer: ``[0, 0]`` when counted, else ``[index, until ms]``."""
        now_ms = ms(now)
        for i, c in enumerate(counters, start=1):
            window = max(1, int(c.window.total_seconds() * 1000))
            counted = self.windows.setdefault(counter_key(customer_id, c), {})
            for old in [m for m, at in counted.items() if at <= now_ms - window]:
                del counted[old]
            if member not in counted and len(counted) >= c.limit:
                if c.limit == 0 or not counted:
                    return [i, now_ms + window]
                ranked = sorted(counted.items(), key=lambda kv: (kv[1], kv[0]))
                return [i, ranked[len(counted) - c.limit][1] + window]
        for c in counters:
            self.windows[counter_key(customer_id, c)].setdefault(member, now_ms)
        return [0, 0]

    async def admit_many(
        self, items: Sequence[tuple[str, str, Sequence[Counter]]], now: datetime
    ) -> list[Admission]:
        return [_admission(c, self.admit(cid, m, c, now)) if c else ADMITTED for cid, m, c in items]

    def queue(
        self, pipe: Any, items: Sequence[tuple[str, str, Sequence[Counter]]], now: datetime
    ) -> list[int]:
        todo = [i for i, (_, _, counters) in enumerate(items) if counters]
        for i in todo:
            cid, member, counters = items[i]
            pipe.call(partial(self.admit, cid, member, counters, now))
        return todo

    def read(
        self,
        items: Sequence[tuple[str, str, Sequence[Counter]]],
        todo: Sequence[int],
        results: Sequence[Any],
    ) -> list[Admission] | None:
        out = [ADMITTED] * len(items)
        for i, result in zip(todo, results, strict=True):
            out[i] = _admission(items[i][2], result)
        return out


def _admission(counters: Sequence[Counter], result: Sequence[int]) -> Admission:
    failed, until_ms = result
    return ADMITTED if not failed else Admission(False, counters[failed - 1], _from_ms(until_ms))


class RecordingPublisher:
    """Keeps every record a worker publishes, in order, and how often it flushed; passes each
    on to ``inner`` (a real :class:`~orchestrator.workers.publisher.Publisher`) when given."""

    def __init__(self, inner: EventPublisher | None = None) -> None:
        self.inner = inner
        self.published: list[tuple[str, CloudEvent, str | bytes | None]] = []
        self.audits: list[AuditRecord] = []
        self.flushes = 0

    async def publish(self, topic: str, event: CloudEvent, key: str | bytes | None) -> None:
        self.published.append((topic, event, key))
        if self.inner is not None:
            await self.inner.publish(topic, event, key)

    async def publish_confirmed(self, topic: str, event: CloudEvent, key: str | None) -> None:
        self.published.append((topic, event, key))
        if self.inner is not None:
            await self.inner.publish_confirmed(topic, event, key)

    async def audit(self, record: AuditRecord) -> None:
        self.audits.append(record)
        if self.inner is not None:
            await self.inner.audit(record)

    async def flush(self) -> None:
        self.flushes += 1
        if self.inner is not None:
            await self.inner.flush()

    def on(self, topic: str) -> list[CloudEvent]:
        """The events published to ``topic``, in order."""
        return [event for t, event, _ in self.published if t == topic]

    def steps(self) -> list[tuple[str, str]]:
        """(step, outcome) of every audit record, in order."""
        return [(r.step, r.outcome) for r in self.audits]


class RecordingChannel:
    """A channel adapter that accepts every message (or raises ``fail``) and keeps them."""

    channel_type: ClassVar[str] = "sms.test"
    channel: ClassVar[str] = "sms"
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any = None, http: Any = None, fail: SendError | None = None) -> None:
        self.sent: list[OutboundMessage] = []
        self.fail = fail

    async def send(self, msg: OutboundMessage) -> SendResult:
        self.sent.append(msg)
        if self.fail is not None:
            raise self.fail
        return SendResult(external_ids=(f"ext-{msg.message_id}",))
