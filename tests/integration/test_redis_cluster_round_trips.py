"""Redis round trips per batch per stage (issue 8: at most two), on one Redis and on a cluster.

A batch of 50 records over 50 customers goes through the inbound, decision, dispatcher and
status workers with a client that counts round trips: each command sent on its own, and each
pipeline execution (on a cluster, redis-py sends a pipeline's per-node parts at once: one wait).
The dispatcher makes four whatever the batch's size or mix (load, admit, claim, settle: why four
is in orchestrator/workers/dispatcher.py and docs/performance.md), with the provider rate limits
on: their takes ride in the claim pipeline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import RedisCluster

from channels.base import OutboundMessage, SendResult
from orchestrator.engine.model import CustomerState
from orchestrator.events import MESSAGE_SEND, MESSAGE_STATUS, CloudEvent
from orchestrator.executor import Executor
from orchestrator.flowfiles import load_flows
from orchestrator.metrics import Metrics
from orchestrator.policy import consent
from orchestrator.policy.send_time import Counter
from orchestrator.policy.spec import Policy
from orchestrator.redis_client import RedisClient, make_redis
from orchestrator.settings import RateLimitSettings, Settings
from orchestrator.state import keys
from orchestrator.state.codec import load_entry
from orchestrator.state.deferred import DeferredSends
from orchestrator.state.policy_counters import PolicyCounters
from orchestrator.state.rate_limits import RateLimiter
from orchestrator.state.store import FinishedSend, RedisStateStore
from orchestrator.state.timers import RedisTimerStore, TimerSpec
from orchestrator.topics import Topics
from orchestrator.workers.base import Deps
from orchestrator.workers.decision import DecisionWorker
from orchestrator.workers.dispatch_limits import DispatchLimits, provider_limits
from orchestrator.workers.dispatcher import DispatcherWorker
from orchestrator.workers.inbound import InboundWorker
from orchestrator.workers.status import StatusWorker
from tests.integration.helpers import FakeRecord, RecordingPublisher, sms_event

BATCH = 50
NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
REPO_FLOWS = Path(__file__).resolve().parents[2] / "flows"


class RoundTrips:
    """Counts the round trips made through one client (patched in place)."""

    def __init__(self, redis: RedisClient) -> None:
        self.count = 0
        send = redis.execute_command
        pipeline = redis.pipeline

        async def execute_command(*args: Any, **options: Any) -> Any:
            self.count += 1
            return await send(*args, **options)

        def counted_pipeline(*args: Any, **options: Any) -> Any:
            pipe = pipeline(*args, **options)
            run = pipe.execute

            async def execute(*a: Any, **k: Any) -> Any:
                self.count += 1
                return await run(*a, **k)

            pipe.execute = execute  # type: ignore[method-assign]
            return pipe

        redis.execute_command = execute_command  # type: ignore[method-assign]
        redis.pipeline = counted_pipeline  # type: ignore[method-assign]

    def take(self) -> int:
        """The count since the last take."""
        count, self.count = self.count, 0
        return count


@pytest.fixture(params=["single", "cluster"])
async def client(
    request: pytest.FixtureRequest, redis_url: str, redis_cluster_url: str
) -> AsyncIterator[RedisClient]:
    """An emptied single Redis, or an emptied 3-master cluster."""
    redis = make_redis(redis_url if request.param == "single" else redis_cluster_url)
    if isinstance(redis, RedisCluster):
        await redis.flushall(target_nodes=RedisCluster.PRIMARIES)
    else:
        await redis.flushdb()
    try:
        yield redis
    finally:
        await redis.aclose()


def deps(store: RedisStateStore) -> Deps:
    ids = iter(f"cus_{i:04d}" for i in range(10_000))
    return Deps(
        topics=Topics(),
        store=store,
        metrics=Metrics(CollectorRegistry()),
        clock=lambda: datetime(2026, 12, 2, 12, tzinfo=UTC),
        new_id=lambda: next(ids),
    )


def as_records(events: list[tuple[str, CloudEvent]], kind: str) -> list[FakeRecord]:
    return [
        FakeRecord(topic, i, event.to_bytes())
        for i, (topic, event) in enumerate(e for e in events if e[1].type == kind)
    ]


async def test_each_stage_makes_at_most_two_round_trips_per_batch(client: RedisClient) -> None:
    trips = RoundTrips(client)
    store = RedisStateStore(client)
    d = deps(store)
    senders = [f"+1555200{i:04d}" for i in range(BATCH)]
    inbound_records = [
        FakeRecord(d.topics.inbound("sms"), i, sms_event(f"SMrt{i}", s, "HELP"))
        for i, s in enumerate(senders)
    ]

    pub = RecordingPublisher()
    await InboundWorker(d, pub).handle(inbound_records)  # type: ignore[arg-type]
    inbound = trips.take()
    customer = [(t, e) for t, e in pub.published if t == d.topics.customer]
    assert len(customer) == BATCH

    # Redelivered: all duplicates-by-position are not duplicates; still the same trips.
    await InboundWorker(d, RecordingPublisher()).handle(inbound_records)  # type: ignore[arg-type]
    redelivered = trips.take()

    hosts = Settings().flows_allowed_hosts
    catalogue = load_flows(REPO_FLOWS, hosts, {})
    timers = RedisTimerStore(client)
    pub = RecordingPublisher()
    async with httpx.AsyncClient() as http:
        decision = DecisionWorker(
            d,
            pub,  # type: ignore[arg-type]
            catalogue,
            lambda p: Executor(p, d.topics, timers, http, hosts),
        )
        await decision.handle([FakeRecord(t, i, e.to_bytes()) for i, (t, e) in enumerate(customer)])
    decided = trips.take()
    sends = [e for _, e in pub.published if e.type == MESSAGE_SEND]
    assert len(sends) == BATCH

    # The dispatcher's outcomes, written as one batch, then the provider's receipts.
    await store.finish_sends(
        [
            FinishedSend(
                str(data["message_id"]),
                {"state": "accepted", "customer_id": data["customer_id"], "channel": "sms"},
                "sms.twilio",
                (f"SMx{i}",),
            )
            for i, data in enumerate(e.data or {} for e in sends)
        ]
    )
    assert trips.take() == 1
    receipts = [
        FakeRecord(
            d.topics.status,
            i,
            CloudEvent(
                specversion="1.0",
                id=f"st{i}",
                source="/test",
                type=MESSAGE_STATUS,
                data={"provider": "sms.twilio", "external_id": f"SMx{i}", "status": "delivered"},
            ).to_bytes(),
        )
        for i in range(BATCH)
    ]
    pub = RecordingPublisher()
    await StatusWorker(d, pub).handle(receipts)  # type: ignore[arg-type]
    status = trips.take()
    assert len([e for _, e in pub.published if e.type == "message.status"]) == BATCH

    assert {
        "inbound": inbound,
        "redelivered": redelivered,
        "decision": decided,
        "status": status,
    } == {
        "inbound": 2,  # seen + identities; then the first identity of the created customers
        "redelivered": 1,  # nobody created
        "decision": 2,  # states; then timers and states
        "status": 1,
    }


async def test_the_batched_send_ledger_and_counters_take_one_round_trip(
    client: RedisClient,
) -> None:
    trips = RoundTrips(client)
    store = RedisStateStore(client)
    items = [(f"msg_{i}", {"state": "pending", "customer_id": f"cus_{i}"}) for i in range(BATCH)]
    assert all(c.claimed for c in await store.claim_sends(items))
    assert trips.take() == 1
    await store.release_sends([m for m, _ in items])
    assert trips.take() == 1
    assert await store.load_states([f"cus_{i}" for i in range(BATCH)])
    assert trips.take() == 1
    counters = PolicyCounters(client)
    caps = [Counter("caps.daily", "cap", "daily:all", 1, timedelta(days=1), "drop", "1 a day")]
    batch = [(f"cus_{i}", f"msg_{i}", caps) for i in range(BATCH)]
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    assert all(a.ok for a in await counters.admit_many(batch, now))
    trips.take()  # the first batch may load the script
    admissions = await counters.admit_many([(c, "another", k) for c, _, k in batch], now)
    assert not any(a.ok for a in admissions)
    assert trips.take() == 1


async def test_states_with_timer_changes_are_one_write_on_one_redis_two_on_a_cluster(
    client: RedisClient,
) -> None:
    trips = RoundTrips(client)
    store = RedisStateStore(client)
    due = datetime(2026, 12, 2, 12, tzinfo=UTC)
    timers = [TimerSpec(f"tmr_{i}", f"cus_{i}", due, "wait") for i in range(BATCH)]
    states = [CustomerState(f"cus_{i}", message_count=1) for i in range(BATCH)]

    await store.save_states(states, schedule=timers, cancel=["tmr_gone"])

    assert trips.take() == (2 if isinstance(client, RedisCluster) else 1)
    assert len(await RedisTimerStore(client).pending()) == BATCH


class SandboxStub:
    """A sandbox-like SMS adapter (``channels.base.ChannelAdapter``): accepts every message."""

    channel_type: ClassVar[str] = "sms.twilio"
    channel: ClassVar[str] = "sms"
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any = None, http: httpx.AsyncClient | None = None) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, msg: OutboundMessage) -> SendResult:
        self.sent.append(msg)
        return SendResult(external_ids=(f"SM{msg.message_id}",), status="queued")


def customer(cid: str, *, granted: bool = True, zone: str = "UTC") -> CustomerState:
    """An SMS customer; ``granted``: marketing consent since yesterday."""
    given = {"sms": {"marketing": consent.record("granted", "test", NOW - timedelta(days=1))}}
    return CustomerState(
        cid, identities={"sms": f"+1555{cid[-6:]}"}, timezone=zone, consent=given if granted else {}
    )


def send_record(i: int, mid: str, cid: str, text: str) -> FakeRecord:
    data = {
        "message_id": mid,
        "customer_id": cid,
        "channel": "sms",
        "to": f"+1555{cid[-6:]}",
        "text": text,
        "purpose": "marketing",
    }
    event = CloudEvent(specversion="1.0", id=mid, source="/test", type=MESSAGE_SEND, data=data)
    return FakeRecord(Topics().outbound("sms"), i, event.to_bytes())


def dispatcher(client: RedisClient, d: Deps, adapter: SandboxStub) -> DispatcherWorker:
    return DispatcherWorker(
        d,
        RecordingPublisher(),  # type: ignore[arg-type]
        {"sms": adapter},
        {},
        policy=Policy,
        counters=PolicyCounters(client),
        deferred=DeferredSends(client),
        limits=rate_limits(client, d.metrics),
    )


def rate_limits(client: RedisClient, metrics: Metrics) -> DispatchLimits:
    """The rate limits on, at rates no batch here reaches (every send takes from two buckets)."""
    r = RateLimitSettings(twilio_account_mps=1e6, twilio_long_code_mps=1e6)
    s = Settings(rate_limits=r)
    return DispatchLimits(RateLimiter(client, r), provider_limits(s), r, metrics)


async def ledger_state(client: RedisClient, message_id: str) -> str | None:
    """The send ledger's state of a message (None: not claimed)."""
    raw = await client.get(keys.send_key(message_id))
    return None if raw is None else str(load_entry(raw)["state"])


async def warmed(client: RedisClient, store: RedisStateStore, trips: RoundTrips) -> Deps:
    """Deps on ``store``, after one batch for other customers (that may load the scripts)."""
    d = deps(store)
    await store.save_states([customer(f"cus_w{i:05d}") for i in range(BATCH)])
    warm = [send_record(i, f"msg_w{i}", f"cus_w{i:05d}", f"Warm {i}") for i in range(BATCH)]
    await dispatcher(client, d, SandboxStub()).handle(warm)  # type: ignore[arg-type]
    trips.take()
    return d


async def test_the_dispatcher_makes_four_round_trips_for_a_batch_of_50_sends(
    client: RedisClient,
) -> None:
    trips = RoundTrips(client)
    store = RedisStateStore(client)
    d = await warmed(client, store, trips)
    await store.save_states([customer(f"cus_{i:06d}") for i in range(BATCH)])
    trips.take()
    adapter = SandboxStub()
    batch = [send_record(i, f"msg_{i}", f"cus_{i:06d}", f"Offer {i}") for i in range(BATCH)]

    await dispatcher(client, d, adapter).handle(batch)  # type: ignore[arg-type]

    assert trips.take() == 4  # load states; admit; claim; settle
    assert len(adapter.sent) == BATCH
    assert [await ledger_state(client, f"msg_{i}") for i in range(BATCH)] == ["accepted"] * BATCH


async def test_a_mixed_batch_takes_the_same_four_round_trips(client: RedisClient) -> None:
    trips = RoundTrips(client)
    store = RedisStateStore(client)
    d = await warmed(client, store, trips)
    n = BATCH // 5
    allowed = [customer(f"cus_ok{i:04d}") for i in range(n)]
    no_consent = [customer(f"cus_no{i:04d}", granted=False) for i in range(n)]
    night = [customer(f"cus_nt{i:04d}", zone="Etc/GMT-12") for i in range(n)]  # 00:00 there
    capped = [customer(f"cus_cp{i:04d}") for i in range(n)]  # two offers: one a day goes
    await store.save_states(allowed + no_consent + night + capped)
    records, mid = [], 0

    def add(state: CustomerState, tag: str) -> None:
        nonlocal mid
        cid = state.customer_id
        records.append(send_record(mid, f"msg_{tag}_{cid}", cid, f"Offer {tag} {cid}"))
        mid += 1

    for group, tag in ((allowed, "a"), (no_consent, "b"), (night, "q"), (capped, "1")):
        for state in group:
            add(state, tag)
    for state in capped:
        add(state, "2")
    assert len(records) == BATCH
    trips.take()
    adapter = SandboxStub()

    await dispatcher(client, d, adapter).handle(records)  # type: ignore[arg-type]

    assert trips.take() == 4
    sent = sorted(m.message_id for m in adapter.sent)
    assert sent == sorted(
        f"msg_{t}_{s.customer_id}" for t, g in (("a", allowed), ("1", capped)) for s in g
    )

    async def entry(tag: str, state: CustomerState) -> str | None:
        return await ledger_state(client, f"msg_{tag}_{state.customer_id}")

    assert [await entry("b", s) for s in no_consent] == ["blocked"] * n
    assert [await entry("q", s) for s in night] == [None] * n  # deferred: not claimed
    assert [await entry("2", s) for s in capped] == [None] * n  # over the cap: not claimed
    pending = {p.message_id for p in await DeferredSends(client).pending()}
    assert pending == {f"msg_q_{s.customer_id}" for s in night} | {
        f"msg_2_{s.customer_id}" for s in capped
    }
    for state in capped:  # the deferred one was not counted
        key = keys.cap_counter_key(state.customer_id, "marketing-daily", "all")
        assert await client.zrange(key, 0, -1) == [f"msg_1_{state.customer_id}".encode()]


async def test_a_message_twice_in_one_batch_is_sent_once(client: RedisClient) -> None:
    store = RedisStateStore(client)
    d = deps(store)
    await store.save_states([customer("cus_000007")])
    adapter = SandboxStub()
    twice = [send_record(i, "msg_twice", "cus_000007", "Hello") for i in range(2)]

    await dispatcher(client, d, adapter).handle(twice)  # type: ignore[arg-type]

    assert [m.message_id for m in adapter.sent] == ["msg_twice"]
    assert await ledger_state(client, "msg_twice") == "accepted"
