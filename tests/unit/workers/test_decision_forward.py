"""The decision worker forwards an event for a merged-away customer to its survivor: the same
CloudEvent, keyed by the end of the chain of merges, recorded and counted, never in a loop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from prometheus_client import CollectorRegistry

from orchestrator.engine.model import CustomerState
from orchestrator.events import MESSAGE_STATUS, SCHEDULE_FIRED, TIMER_FIRED, CloudEvent
from orchestrator.executor import Executor
from orchestrator.metrics import Metrics
from orchestrator.state.store import MAX_REDIRECTS
from orchestrator.topics import Topics
from orchestrator.workers.base import Deps
from orchestrator.workers.decision import FORWARD_HOPS, DecisionWorker
from tests.unit.engine.conversations import ROOT, catalogue
from tests.unit.workers.test_batch import FakeRecord, RecordingPublisher

AT = datetime(2026, 11, 22, 12, tzinfo=UTC)
TOPICS = Topics()


class FakeStore:
    """States and ``ct:merged`` redirects in memory; counts the redirect look-ups."""

    def __init__(self, states: Sequence[CustomerState], merged: Mapping[str, str]) -> None:
        self.states = {s.customer_id: s for s in states}
        self.merged = dict(merged)
        self.lookups: list[list[str]] = []

    async def load_states(self, ids: Sequence[str]) -> dict[str, CustomerState]:
        return {cid: self.states.get(cid, CustomerState(cid)) for cid in ids}

    async def redirects(self, ids: Sequence[str]) -> dict[str, str]:
        self.lookups.append(list(ids))
        ends = {}
        for cid in ids:
            end = cid
            for _ in range(MAX_REDIRECTS):
                end = self.merged.get(end, end)
            ends[cid] = end
        return ends

    async def save_states(self, states: Sequence[CustomerState], **_: Any) -> None:
        self.states.update({s.customer_id: s for s in states})


class KeyedPublisher(RecordingPublisher):
    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str | bytes | None] = []

    async def publish(self, topic: str, event: CloudEvent, key: str | bytes | None) -> None:
        await super().publish(topic, event, key)
        self.keys.append(key)


def worker(store: FakeStore) -> tuple[DecisionWorker, KeyedPublisher, Metrics]:
    pub, metrics = KeyedPublisher(), Metrics(CollectorRegistry())
    deps = Deps(
        topics=TOPICS,
        store=cast(Any, store),
        metrics=metrics,
        clock=lambda: AT,
        new_id=lambda: "cus_new",
    )
    flows = catalogue(ROOT / "tests" / "engine_flows", ("127.0.0.1:8090",))
    executor = lambda p: Executor(p, TOPICS, cast(Any, None), cast(Any, None), ())  # noqa: E731
    return DecisionWorker(deps, cast(Any, pub), flows, executor), pub, metrics


def status(customer_id: str, event_id: str = "st_1", **extra: Any) -> CloudEvent:
    return CloudEvent(
        specversion="1.0",
        id=event_id,
        source="/continuum/status",
        type=MESSAGE_STATUS,
        customerid=customer_id,
        data={"status": "read", "channel": "sms", "customer_id": customer_id},
        **extra,
    )


def records(*events: CloudEvent) -> list[FakeRecord]:
    return [
        FakeRecord(topic=TOPICS.customer, offset=i, value=e.to_bytes())
        for i, e in enumerate(events)
    ]


def forwards(metrics: Metrics, kind: str, outcome: str) -> float | None:
    labels = {"kind": kind, "outcome": outcome}
    return metrics.registry.get_sample_value("continuum_merge_forwards_total", labels)


async def test_a_status_for_a_merged_away_id_goes_to_the_end_of_the_chain() -> None:
    # a was merged into b, and b later into c
    store = FakeStore(
        [CustomerState("a", merged_into="b"), CustomerState("b", merged_into="c")],
        {"a": "b", "b": "c"},
    )
    decision, pub, metrics = worker(store)
    original = status("a")
    await decision.handle(records(original))

    [(topic, event)] = pub.published
    assert (topic, pub.keys) == (TOPICS.customer, ["c"])
    assert (event.id, event.type, event.source) == (original.id, original.type, original.source)
    assert event.model_extra == {"customerid": "c", FORWARD_HOPS: 1}
    assert event.data == {**(original.data or {}), "customer_id": "c"}
    assert store.lookups == [["b"]]  # from the survivor the engine named
    [row] = [r for r in pub.audits if r.step == "event_forwarded"]
    assert (row.outcome, row.customer_id, row.event_id) == ("forwarded", "a", "st_1")
    assert row.detail == {"survivor": "c", "merged_into": "b", "type": MESSAGE_STATUS, "hops": 1}
    assert forwards(metrics, "status", "forwarded") == 1
    stage = {"stage": "decision", "channel": "sms", "outcome": "forwarded"}
    assert metrics.registry.get_sample_value("continuum_stage_total", stage) == 1
    assert "st_1" not in store.states["a"].applied  # the old state is left as it was


async def test_the_survivor_applies_the_forwarded_event_once() -> None:
    store = FakeStore([CustomerState("a", merged_into="b")], {"a": "b"})
    decision, pub, _ = worker(store)
    await decision.handle(records(status("a")))
    [(_, forwarded)] = pub.published
    # the survivor's worker gets it (and a redelivery of it): applied once, by its id
    await decision.handle(records(forwarded, forwarded))
    assert store.states["b"].applied.count("st_1") == 1
    assert len(pub.published) == 1  # the survivor is not merged: nothing forwarded again


async def test_a_batch_without_merged_customers_looks_nothing_up() -> None:
    store = FakeStore([CustomerState("a"), CustomerState("b")], {})
    decision, pub, _ = worker(store)
    await decision.handle(records(status("a"), status("b", "st_2")))
    assert store.lookups == []
    assert pub.published == []
    assert not [r for r in pub.audits if r.step == "event_forwarded"]


async def test_several_forwards_of_a_batch_share_one_look_up() -> None:
    store = FakeStore(
        [CustomerState("a", merged_into="c"), CustomerState("b", merged_into="c")],
        {"a": "c", "b": "c"},
    )
    decision, pub, _ = worker(store)
    timer = CloudEvent(
        specversion="1.0",
        id="tmr_1",
        source="/continuum/scheduler",
        type=TIMER_FIRED,
        customerid="b",
        data={"timer_id": "tmr_1", "customer_id": "b", "purpose": "named", "name": "e-nudge"},
    )
    await decision.handle(records(status("a"), timer))
    assert len(store.lookups) == 1
    assert [(e.id, k) for (_, e), k in zip(pub.published, pub.keys, strict=True)] == [
        ("st_1", "c"),
        ("tmr_1", "c"),
    ]


async def test_a_schedule_tick_of_a_merged_away_id_is_not_forwarded() -> None:
    store = FakeStore([CustomerState("a", merged_into="b", tags=("subscriber",))], {"a": "b"})
    decision, pub, _ = worker(store)
    tick = CloudEvent(
        specversion="1.0",
        id="sch_1",
        source="/continuum/scheduler",
        type=SCHEDULE_FIRED,
        customerid="a",
        data={"flow_id": "e-schedule", "tick": AT.isoformat(), "customer_id": "a"},
    )
    await decision.handle(records(tick))
    assert (pub.published, store.lookups) == ([], [])
    assert [(r.step, r.outcome) for r in pub.audits] == [("decision", "merged_away")]


async def test_a_chain_that_leads_back_is_refused_and_recorded() -> None:
    # a's state names b, but the redirects now lead from b back to a (b was merged into a
    # after a's own redirect was removed)
    store = FakeStore([CustomerState("a", merged_into="b")], {"b": "a"})
    decision, pub, metrics = worker(store)
    await decision.handle(records(status("a")))
    assert pub.published == []
    [row] = [r for r in pub.audits if r.step == "event_forwarded"]
    assert (row.outcome, row.customer_id) == ("refused", "a")
    assert "lead back" in str(row.reason)
    assert forwards(metrics, "status", "refused") == 1
    stage = {"stage": "decision", "channel": "sms", "outcome": "forward_refused"}
    assert metrics.registry.get_sample_value("continuum_stage_total", stage) == 1


async def test_forwarding_stops_after_the_hop_limit() -> None:
    store = FakeStore([CustomerState("a", merged_into="b")], {"a": "b"})
    decision, pub, metrics = worker(store)
    await decision.handle(records(status("a", **{FORWARD_HOPS: MAX_REDIRECTS - 1})))
    [(_, event)] = pub.published
    assert (event.model_extra or {})[FORWARD_HOPS] == MAX_REDIRECTS  # the last hop allowed
    await decision.handle(records(status("a", "st_2", **{FORWARD_HOPS: MAX_REDIRECTS})))
    assert len(pub.published) == 1
    [row] = [r for r in pub.audits if r.step == "event_forwarded" and r.event_id == "st_2"]
    assert row.outcome == "refused"
    assert "loop of merges" in str(row.reason)
    assert forwards(metrics, "status", "refused") == 1


async def test_a_loop_of_merges_ends_at_the_hop_limit() -> None:
    # a race wrote a -> b and b -> a: each hands the event to the other until the limit
    store = FakeStore(
        [CustomerState("a", merged_into="b"), CustomerState("b", merged_into="a")],
        {"a": "b", "b": "a"},
    )
    decision, pub, metrics = worker(store)
    batch = records(status("a"))
    for _ in range(3 * MAX_REDIRECTS):
        before = len(pub.published)
        await decision.handle(batch)
        if len(pub.published) == before:
            break
        batch = records(pub.published[-1][1])
    assert len(pub.published) == MAX_REDIRECTS
    assert forwards(metrics, "status", "refused") == 1
