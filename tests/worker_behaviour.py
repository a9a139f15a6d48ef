"""Worker behaviours, written once and run against two backends (STYLE.md §10, P5).

:class:`WorkerTestcase` has an abstract :meth:`~WorkerTestcase.deps`: the unit tier binds it to
the in-memory fakes of ``tests/fakes.py`` (``tests/unit/workers/test_worker_behaviour.py``,
milliseconds per test), the integration tier to real Redis and Tansu
(``tests/integration/test_worker_behaviour.py``). A behaviour class here (``*Behaviour``) is not
collected by itself: a tier's ``Test*`` class mixes it with its binding.

Each test feeds records to a worker through :func:`orchestrator.workers.batch.process`, as the
runner does, and asserts what was published, audited and stored.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from channels.base import ChannelAdapter
from channels.errors import OutcomeUnknown
from orchestrator.engine.customer_view import Staged
from orchestrator.engine.model import CustomerState, Run
from orchestrator.events import MESSAGE_RECEIVED, MESSAGE_SEND, MESSAGE_STATUS, CloudEvent
from orchestrator.executor import Executor
from orchestrator.metrics import Metrics
from orchestrator.policy.consent import record as record_consent
from orchestrator.policy.spec import Policy
from orchestrator.settings import Settings
from orchestrator.state.protocols import Counters, DeferredQueue, StateStore, TimerQueue
from orchestrator.state.store import FinishedSend
from orchestrator.topics import Topics
from orchestrator.workers.base import BatchWorker, Deps
from orchestrator.workers.batch import Verdict, process
from orchestrator.workers.decision import DecisionWorker
from orchestrator.workers.dispatcher import DispatcherWorker
from orchestrator.workers.inbound import InboundWorker
from orchestrator.workers.status import StatusWorker
from tests.fakes import FakeClock, FakeRecord, RecordingChannel, RecordingPublisher, SeqIds
from tests.unit.engine.conversations import ROOT, catalogue

SENDER, OURS = "+15551230001", "+15559990000"


@dataclass
class World:
    """What a behaviour test drives and looks at: one backend's stores, a recording publisher
    (passing records on to the broker in the integration tier), a fake clock and the settings."""

    settings: Settings
    topics: Topics
    store: StateStore
    timers: TimerQueue
    deferred: DeferredQueue
    counters: Counters
    publisher: RecordingPublisher
    clock: FakeClock

    def deps(self) -> Deps:
        """A worker's dependencies on this backend (fresh metrics each time)."""
        return Deps(
            topics=self.topics,
            store=self.store,
            metrics=Metrics(CollectorRegistry()),
            clock=self.clock,
            new_id=SeqIds(),
        )


class WorkerTestcase(ABC):
    """The base of every behaviour class: a :class:`World` per test, from :meth:`deps`."""

    @abstractmethod
    def deps(self) -> AbstractAsyncContextManager[World]:
        """The backend: an async context manager that gives a fresh, empty :class:`World`."""
        raise NotImplementedError

    @pytest.fixture
    async def world(self) -> AsyncIterator[World]:
        async with self.deps() as world:
            yield world


def record(topic: str, event: CloudEvent, offset: int = 0, key: str | None = None) -> FakeRecord:
    """A consumed record holding ``event``."""
    raw_key = key.encode() if key else None
    return FakeRecord(topic=topic, offset=offset, key=raw_key, value=event.to_bytes())


async def run(worker: BatchWorker, *records: FakeRecord) -> None:
    """One batch through the runner's path; it must be committed."""
    assert await process(worker, records) is Verdict.COMMIT


def received(event_id: str, sender: str = SENDER, text: str = "hello", **extra: Any) -> CloudEvent:
    return CloudEvent(
        specversion="1.0",
        id=event_id,
        source="/channels/sms/sandbox",
        type=MESSAGE_RECEIVED,
        data={"channel": "sms", "from": sender, "to": OURS, "text": text},
        **extra,
    )


class InboundBehaviour(WorkerTestcase):
    """Dedupe, customer resolution and dead-lettering at the edge."""

    async def test_a_redelivered_provider_message_is_forwarded_once(self, world: World) -> None:
        worker, topic = InboundWorker(world.deps(), world.publisher), world.topics.inbound("sms")
        await run(worker, record(topic, received("SM1"), offset=0))
        await run(worker, record(topic, received("SM1"), offset=1))  # the provider retried
        assert [e.id for e in world.publisher.on(world.topics.customer)] == ["SM1"]
        assert ("inbound_duplicate", "dropped") in world.publisher.steps()

    async def test_the_same_record_redelivered_is_not_a_duplicate(self, world: World) -> None:
        worker, topic = InboundWorker(world.deps(), world.publisher), world.topics.inbound("sms")
        await run(worker, record(topic, received("SM1"), offset=7))
        await run(worker, record(topic, received("SM1"), offset=7))  # a rewound batch
        assert [e.id for e in world.publisher.on(world.topics.customer)] == ["SM1", "SM1"]

    async def test_one_sender_is_one_customer(self, world: World) -> None:
        worker, topic = InboundWorker(world.deps(), world.publisher), world.topics.inbound("sms")
        await run(
            worker,
            record(topic, received("SM1"), 0),
            record(topic, received("SM2", sender="+15551230002"), 1),
        )
        await run(worker, record(topic, received("SM3"), 2))
        first, other, again = (
            (e.data or {})["customer_id"] for e in world.publisher.on(world.topics.customer)
        )
        assert first == again != other
        resolved = [r.outcome for r in world.publisher.audits if r.step == "customer_resolved"]
        assert resolved == ["created", "created", "existing"]
        assert (await world.store.load_states([first]))[first].identities == {"sms": SENDER}

    async def test_a_bad_record_is_dead_lettered_and_the_batch_goes_on(self, world: World) -> None:
        worker, topic = InboundWorker(world.deps(), world.publisher), world.topics.inbound("sms")
        bad = FakeRecord(topic=topic, offset=0, value=b"{not json")
        await run(worker, bad, record(topic, received("SM1"), 1))
        (letter,) = world.publisher.on(world.topics.dlq)
        assert letter.id == f"dlq:{topic}:0:0"
        assert [e.id for e in world.publisher.on(world.topics.customer)] == ["SM1"]
        assert ("dead_lettered", "not_json") in world.publisher.steps()


def decision_worker(world: World) -> DecisionWorker:
    flows = catalogue(ROOT / "tests" / "engine_flows", ("127.0.0.1:8090",))
    http = cast(Any, None)  # no flow of these makes calls

    def executor(pub: Any) -> Executor:
        return Executor(pub, world.topics, world.timers, http, ())

    return DecisionWorker(world.deps(), world.publisher, flows, executor)


class DecisionBehaviour(WorkerTestcase):
    """A customer's message runs the flows; a redelivery changes nothing."""

    async def test_a_message_produces_a_send(self, world: World) -> None:
        worker = decision_worker(world)
        await run(
            worker, record(world.topics.customer, received("SM1", text="KW", customerid="c1"))
        )
        (send,) = world.publisher.on(world.topics.outbound("sms"))
        assert send.type == MESSAGE_SEND
        assert (send.data or {})["to"] == SENDER
        assert (send.data or {})["text"] == "keyword"
        state = (await world.store.load_states(["c1"]))["c1"]
        assert "sms:SM1" in state.applied

    async def test_a_redelivered_event_sends_nothing_twice(self, world: World) -> None:
        worker = decision_worker(world)
        event = record(world.topics.customer, received("SM1", text="KW", customerid="c1"))
        await run(worker, event)
        await run(decision_worker(world), event)  # after a crash: a new worker, the same record
        assert len(world.publisher.on(world.topics.outbound("sms"))) == 1


def status_event(event_id: str, status: str, external_id: str = "ext-msg_1") -> CloudEvent:
    data = {"provider": "sms.test", "external_id": external_id, "status": status}
    return CloudEvent(
        specversion="1.0",
        id=event_id,
        source="/channels/sms/test",
        type=MESSAGE_STATUS,
        data=data,
    )


async def sent(world: World, message_id: str = "msg_1") -> None:
    """The send ledger's record of a message the dispatcher sent to ``sms.test``."""
    entry = {
        "state": "accepted",
        "message_id": message_id,
        "customer_id": "c1",
        "channel": "sms",
        "to": SENDER,
        "provider": "sms.test",
    }
    finished = FinishedSend(message_id, entry, "sms.test", (f"ext-{message_id}",))
    await world.store.settle_sends([finished])


class StatusBehaviour(WorkerTestcase):
    """Receipts matched to their message; a status never moves back."""

    async def test_a_receipt_is_matched_and_recorded(self, world: World) -> None:
        await sent(world)
        worker = StatusWorker(world.deps(), world.publisher)
        await run(worker, record(world.topics.status, status_event("st1", "delivered")))
        (row,) = world.publisher.audits
        assert (row.step, row.outcome, row.message_id) == ("status_changed", "delivered", "msg_1")
        (forwarded,) = world.publisher.on(world.topics.customer)
        assert (forwarded.data or {})["status"] == "delivered"
        assert (forwarded.data or {})["customer_id"] == "c1"

    async def test_a_stale_receipt_is_recorded_not_applied(self, world: World) -> None:
        await sent(world)
        worker = StatusWorker(world.deps(), world.publisher)
        await run(
            worker,
            record(world.topics.status, status_event("st1", "delivered"), 0),
            record(world.topics.status, status_event("st2", "sent"), 1),
        )
        assert world.publisher.steps() == [
            ("status_changed", "delivered"),
            ("status_stale", "sent"),
        ]
        assert len(world.publisher.on(world.topics.customer)) == 1  # the stale one is not told
        stale = world.publisher.audits[1]
        assert stale.detail["current"] == "delivered"


def send_command(message_id: str = "msg_1", purpose: str = "transactional") -> CloudEvent:
    data = {
        "message_id": message_id,
        "customer_id": "c1",
        "channel": "sms",
        "to": SENDER,
        "text": "your code is 1234",
        "purpose": purpose,
    }
    return CloudEvent(
        specversion="1.0", id=message_id, source="/continuum/decision", type=MESSAGE_SEND, data=data
    )


def dispatcher(
    world: World,
    adapters: Mapping[str, ChannelAdapter],
    flows: Callable[[str], Staged | None] = lambda _: None,
) -> DispatcherWorker:
    return DispatcherWorker(
        world.deps(),
        world.publisher,
        adapters,
        {},
        policy=Policy,
        counters=world.counters,
        deferred=world.deferred,
        flows=flows,
    )


class DispatcherBehaviour(WorkerTestcase):
    """The send ledger and the send-time policy in front of the adapter."""

    async def test_a_send_goes_to_the_adapter_once(self, world: World) -> None:
        channel = RecordingChannel()
        topic = world.topics.outbound("sms")
        await run(dispatcher(world, {"sms": channel}), record(topic, send_command(), 0))
        await run(dispatcher(world, {"sms": channel}), record(topic, send_command(), 0))
        assert [m.message_id for m in channel.sent] == ["msg_1"]
        # the second time, refused by the send ledger with what the first became, its outcome
        # row written again under the same id (the ledger keeps one)
        first, again, refused = world.publisher.audits
        assert [r.step for r in (first, again, refused)] == [
            "provider_accepted",
            "provider_accepted",
            "duplicate_send_refused",
        ]
        assert again.record_id == first.record_id
        found = await world.store.lookup_external([("sms.test", "ext-msg_1")])
        assert found[0] is not None
        assert found[0]["state"] == "accepted"

    @pytest.mark.parametrize(
        ("fail", "state", "step", "outcome"),
        [
            pytest.param(None, "accepted", "provider_accepted", "queued", id="accepted"),
            pytest.param(
                OutcomeUnknown("read timeout"),
                "unknown",
                "provider_unknown",
                "outcome_unknown",
                id="unknown",
            ),
        ],
    )
    async def test_an_outcome_row_lost_in_a_crash_is_written_again_by_the_redelivery(
        self, world: World, fail: OutcomeUnknown | None, state: str, step: str, outcome: str
    ) -> None:
        # A dispatcher killed after writing the send ledger and before its ledger rows were
        # confirmed: the rows are lost, the batch redelivered (issue 11).
        channel = RecordingChannel(fail=fail)
        topic = world.topics.outbound("sms")
        await run(dispatcher(world, {"sms": channel}), record(topic, send_command(), 0))
        [lost] = world.publisher.audits
        world.publisher.audits.clear()
        await run(dispatcher(world, {"sms": channel}), record(topic, send_command(), 0))
        assert [m.message_id for m in channel.sent] == ["msg_1"]  # never sent again
        again, refused = world.publisher.audits
        assert (again.step, again.outcome, again.record_id) == (step, outcome, lost.record_id)
        assert (again.message_id, again.address, again.external_id) == (
            "msg_1",
            SENDER,
            lost.external_id,
        )
        assert (refused.step, refused.outcome) == ("duplicate_send_refused", state)

    async def test_marketing_that_waited_into_a_support_conversation_is_not_sent(
        self, world: World
    ) -> None:
        channel = RecordingChannel()
        granted = {"sms": {"marketing": record_consent("granted", "test", world.clock())}}
        care = Run("run-care", "care", 1, world.clock().isoformat())
        state = CustomerState("c1", identities={"sms": SENDER}, consent=granted, run=care)
        await world.store.save_states([state])
        stages = {"care": SimpleNamespace(stage="support")}
        offer = send_command(purpose="marketing")
        await run(
            dispatcher(world, {"sms": channel}, stages.get),
            record(world.topics.outbound("sms"), offer),
        )
        assert channel.sent == []
        blocked = [a for a in world.publisher.audits if a.step == "policy_blocked"]
        assert [(a.outcome, a.reason) for a in blocked] == [
            ("support_quiet", "a support conversation is open")
        ]

    async def test_a_blocked_send_never_reaches_the_adapter(self, world: World) -> None:
        channel = RecordingChannel()
        await world.store.save_states([CustomerState("c1", identities={"sms": SENDER})])
        marketing = send_command(purpose="marketing")  # and no consent to it
        await run(
            dispatcher(world, {"sms": channel}), record(world.topics.outbound("sms"), marketing)
        )
        assert channel.sent == []
        assert [s for s in world.publisher.steps() if s[0] == "policy_blocked"]
