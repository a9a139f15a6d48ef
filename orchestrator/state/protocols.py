"""What the workers use of Redis and of the broker, as Protocols.

Each Protocol names only the methods a worker calls, so a worker can be run against an in-memory
fake (``tests/fakes.py``) in the unit tier and against the real classes in the integration tier
(``tests/unit/workers/test_worker_behaviour.py``, ``tests/integration/test_worker_behaviour.py``).
The real classes are checked against them by mypy at the end of this module.

=====================  ===============================================  ======================
Protocol               real class                                       used by
=====================  ===============================================  ======================
:class:`StateStore`    :class:`~orchestrator.state.store.RedisStateStore`  every worker (``Deps``)
:class:`TimerQueue`    :class:`~orchestrator.state.timers.RedisTimerStore`  scheduler, executor
:class:`DeferredQueue` :class:`~orchestrator.state.deferred.DeferredSends`  dispatcher, release
:class:`Counters`      :class:`~orchestrator.state.policy_counters.PolicyCounters`  dispatcher
:class:`EventPublisher` :class:`~orchestrator.workers.publisher.Publisher`  every worker
=====================  ===============================================  ======================

Message statuses (:mod:`orchestrator.state.message_status`) are reached through
:meth:`StateStore.advance_statuses`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.doorbell import Doorbell
from orchestrator.engine.model import CustomerState
from orchestrator.events import AuditRecord, CloudEvent
from orchestrator.policy.send_time import Counter
from orchestrator.state.deferred import DeferredSend
from orchestrator.state.message_status import Advance
from orchestrator.state.policy_counters import Admission
from orchestrator.state.store import FinishedSend, Resolution
from orchestrator.state.timers import TimerSpec
from orchestrator.state.unknown_sends import UnknownSend


class Rider(Protocol):
    """Commands that ride in another operation's pipeline, so they cost no round trip of their
    own (the breakers' reads and records in the dispatcher's load and settle)."""

    def queue(self, pipe: Any) -> None:
        """Queue the commands on ``pipe`` (before the operation's own)."""
        ...

    def read(self, raw: Sequence[Any]) -> None:
        """Take the answers to the commands :meth:`queue` queued, in order."""
        ...


class StateStore(Protocol):
    """Customers, identities, dedupe markers, the send ledger and message statuses."""

    async def admit_inbound(
        self,
        seen: Sequence[tuple[str, str, str]],
        ttl_s: int,
        resolve: Sequence[tuple[str, str, str]],
    ) -> tuple[list[bool], list[Resolution]]:
        """Mark (channel, provider id, position) items seen and resolve (channel, address,
        proposed id) items to customers; True where an id is new (or marked by the same
        position)."""
        ...

    async def resolve(self, items: Sequence[tuple[str, str, str]]) -> list[Resolution]:
        """The customer each (channel, address, proposed id) belongs to, created if new."""
        ...

    async def owners(self, items: Sequence[tuple[str, str]]) -> list[str | None]:
        """The customer each (channel, address) belongs to, if any."""
        ...

    async def link(self, customer_id: str, channel: str, address: str) -> None:
        """Point ``address`` on ``channel`` at ``customer_id``."""
        ...

    async def merge(self, survivor: str, other: str) -> CustomerState:
        """Redirect ``other`` to ``survivor`` (identities too); ``other``'s state as stored."""
        ...

    async def redirects(self, customer_ids: Sequence[str]) -> dict[str, str]:
        """Each id's survivor at the end of its chain of merges (itself if not merged)."""
        ...

    async def load_states(
        self, customer_ids: Sequence[str], *, rider: Rider | None = None
    ) -> dict[str, CustomerState]:
        """Every customer's state; a new customer gets an empty one. ``rider``'s commands go
        in the same round trip."""
        ...

    async def save_states(
        self,
        states: Sequence[CustomerState],
        *,
        schedule: Sequence[TimerSpec] = (),
        cancel: Sequence[str] = (),
    ) -> None:
        """Write states, after the timer changes their runs depend on."""
        ...

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
        """Record send results, release claims, defer retries, index unknown outcomes and drop
        sends now known from that index, in one round trip; give back the receipts parked for
        these sends (they came before the sends were recorded). ``rider``'s commands go in the
        same round trip."""
        ...

    async def park_receipts(
        self, items: Sequence[tuple[str, str, bytes]], ttl_s: int = ...
    ) -> list[bytes]:
        """Keep (provider, external id, raw event) receipts that matched no send; give back
        those whose send was recorded meanwhile (each is taken once)."""
        ...

    def pipeline(self) -> Any:
        """A non-transactional pipeline for the ``queue_*`` helpers of ``state/`` (the
        dispatcher puts several operations in one round trip). An async context manager with
        the redis-py pipeline's ``set``, ``delete``, ``eval``, ``execute`` and ``len``."""
        ...

    async def advance_statuses(self, items: Sequence[tuple[str, str]]) -> list[Advance]:
        """Apply (message id, status) receipts in order, each only if it moves forward."""
        ...

    async def lookup_external(
        self, items: Sequence[tuple[str, str]]
    ) -> list[dict[str, Any] | None]:
        """The send ledger entry of each (provider, external id), if any."""
        ...


class DueItems(Protocol):
    """What the timers and the deferred sends share: a queue of items that fall due."""

    added: Doorbell

    async def ack(self, ids: Sequence[str], /) -> None:
        """Forget items that have been handled."""
        ...

    async def next_due(self) -> datetime | None:
        """When the earliest unclaimed item falls due."""
        ...

    async def requeue_expired(self, now: datetime, limit: int = 10_000) -> int:
        """Make items whose lease ran out due again."""
        ...

    async def counts(self, now: datetime) -> dict[str, int]:
        """Items ``waiting``, ``due`` and ``leased``."""
        ...


class TimerQueue(DueItems, Protocol):
    """Flow timers (:class:`~orchestrator.state.timers.RedisTimerStore`)."""

    async def claim_due(
        self, now: datetime, limit: int = 500, lease_s: float = 30.0
    ) -> list[TimerSpec]:
        """Lease up to ``limit`` timers due by ``now``."""
        ...


class DeferredQueue(DueItems, Protocol):
    """Sends kept until due (:class:`~orchestrator.state.deferred.DeferredSends`)."""

    async def claim_due(
        self, now: datetime, limit: int = 500, lease_s: float = 30.0
    ) -> list[DeferredSend]:
        """Lease up to ``limit`` sends due by ``now``."""
        ...


class Counters(Protocol):
    """Send-time caps and the loop guard
    (:class:`~orchestrator.state.policy_counters.PolicyCounters`)."""

    async def admit_many(
        self, items: Sequence[tuple[str, str, Sequence[Counter]]], now: datetime
    ) -> list[Admission]:
        """Admit (customer id, member, counters) items, each only if all its counters fit."""
        ...

    def queue(
        self, pipe: Any, items: Sequence[tuple[str, str, Sequence[Counter]]], now: datetime
    ) -> list[int]:
        """Queue the admissions on ``pipe`` (from :meth:`StateStore.pipeline`)."""
        ...

    def read(
        self,
        items: Sequence[tuple[str, str, Sequence[Counter]]],
        todo: Sequence[int],
        results: Sequence[Any],
    ) -> list[Admission] | None:
        """The admissions :meth:`queue` asked for; None if they must be asked again."""
        ...


class EventPublisher(Protocol):
    """Records to the broker, durable once :meth:`flush` returns
    (:class:`~orchestrator.workers.publisher.Publisher`)."""

    async def publish(self, topic: str, event: CloudEvent, key: str | bytes | None) -> None:
        """Hand ``event`` over; durable after :meth:`flush`."""
        ...

    async def publish_confirmed(self, topic: str, event: CloudEvent, key: str | None) -> None:
        """Publish one event and wait for its acknowledgement."""
        ...

    async def audit(self, record: AuditRecord) -> None:
        """Queue an audit record for the ledger."""
        ...

    async def flush(self) -> None:
        """Wait until everything handed over is acknowledged; raise if any failed."""
        ...


if TYPE_CHECKING:  # mypy proves that the real classes satisfy the Protocols
    from orchestrator.state.deferred import DeferredSends
    from orchestrator.state.policy_counters import PolicyCounters
    from orchestrator.state.store import RedisStateStore
    from orchestrator.state.timers import RedisTimerStore
    from orchestrator.workers.publisher import Publisher

    def _conforms(
        store: RedisStateStore,
        timers: RedisTimerStore,
        deferred: DeferredSends,
        counters: PolicyCounters,
        publisher: Publisher,
    ) -> tuple[StateStore, TimerQueue, DeferredQueue, Counters, EventPublisher]:
        return store, timers, deferred, counters, publisher
