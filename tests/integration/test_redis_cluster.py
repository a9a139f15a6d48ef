"""Every Redis-using part of the service on a 3-master Redis Cluster (``redis+cluster://``).

The keys one script or transaction touches share a hash tag; everything else is single-key
commands in non-transactional pipelines, which redis-py splits by node. A multi-slot command
would fail here with CROSSSLOT, so these tests pass only if nothing uses one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from redis.asyncio import RedisCluster

from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.model import CustomerState
from orchestrator.flowfiles import load_flows
from orchestrator.policy.send_time import Counter
from orchestrator.redis_client import make_redis
from orchestrator.reload import FlowReloader
from orchestrator.settings import Settings
from orchestrator.state import codec, keys
from orchestrator.state.deferred import DeferredSend, DeferredSends
from orchestrator.state.policy_counters import PolicyCounters
from orchestrator.state.store import FinishedSend, RedisStateStore
from orchestrator.state.timers import RedisTimerStore, TimerSpec
from tests.integration.helpers import Pipeline, eventually, sms_event

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
CUSTOMERS = [f"cus_{i:03d}" for i in range(50)]


@pytest.fixture
async def cluster(redis_cluster_url: str) -> AsyncIterator[RedisCluster]:
    """A client on the emptied cluster."""
    redis = make_redis(redis_cluster_url)
    assert isinstance(redis, RedisCluster)
    await redis.flushall(target_nodes=RedisCluster.PRIMARIES)
    try:
        yield redis
    finally:
        await redis.aclose()


async def nodes_holding(redis: RedisCluster, names: list[str]) -> int:
    """How many primaries hold at least one of ``names``."""
    owners = {redis.get_node_from_key(name).name for name in names}
    return len(owners)


async def test_states_of_customers_in_every_slot_load_and_save_in_one_batch(
    cluster: RedisCluster,
) -> None:
    store = RedisStateStore(cluster)
    names = [keys.customer_key(c) for c in CUSTOMERS]
    assert await nodes_holding(cluster, names) == 3  # the batch really spans the cluster
    states = [
        CustomerState(c, message_count=i, tags=("vip",), identities={"sms": f"+1555{i:07d}"})
        for i, c in enumerate(CUSTOMERS)
    ]

    await store.save_states(states)

    loaded = await store.load_states([*CUSTOMERS, "cus_new"])
    assert [loaded[c] for c in CUSTOMERS] == states
    assert loaded["cus_new"] == CustomerState("cus_new")
    scanned = {s.customer_id: s async for s in store.iter_states(count=7)}
    assert scanned == {s.customer_id: s for s in states}


async def test_identities_and_dedupe_across_slots(cluster: RedisCluster) -> None:
    store = RedisStateStore(cluster)
    seen_items = [("sms", f"SM{i}", f"0:{i}") for i in range(50)]
    senders = [("sms", f"+1555000{i:04d}", f"cus_{i}") for i in range(50)]

    seen, resolved = await store.admit_inbound(seen_items, 3600, senders)

    assert seen == [True] * 50
    assert [(r.customer_id, r.created) for r in resolved] == [(f"cus_{i}", True) for i in range(50)]
    states = await store.load_states([f"cus_{i}" for i in range(50)])
    assert states["cus_7"].identities == {"sms": "+15550000007"}
    # The same record again is a redelivery; another record with the same id is a duplicate.
    again = [("sms", "SM1", "0:1"), ("sms", "SM2", "1:99")]
    proposed = [("sms", "+15550000001", "cus_other"), ("whatsapp", "+15550000001", "cus_wa")]
    seen, resolved = await store.admit_inbound(again, 3600, proposed)
    assert seen == [True, False]
    # one number on sms and whatsapp is one customer (identity.share_phone_across_media)
    assert [(r.customer_id, r.created) for r in resolved] == [("cus_1", False), ("cus_1", False)]
    owners = await store.owners(
        [("sms", "+15550000001"), ("whatsapp", "+15550000001"), ("sms", "x")]
    )
    assert owners == ["cus_1", "cus_1", None]
    # switched off, a new number is a customer per medium; one linked while sharing was on
    # stays one customer (the phone key is read as the fallback)
    apart = RedisStateStore(cluster, share_phone_across_media=False)
    fresh = [("sms", "+15559990123", "cus_sms"), ("whatsapp", "+15559990123", "cus_wa")]
    _, resolved = await apart.admit_inbound([], 0, fresh)
    assert [(r.customer_id, r.created) for r in resolved] == [("cus_sms", True), ("cus_wa", True)]
    _, resolved = await apart.admit_inbound([], 0, [("whatsapp", "+15550000002", "cus_x")])
    assert [(r.customer_id, r.created) for r in resolved] == [("cus_2", False)]


async def test_the_send_ledger_across_slots(cluster: RedisCluster) -> None:
    store = RedisStateStore(cluster)
    items = [(f"msg_{i}", {"state": "pending", "customer_id": f"cus_{i}"}) for i in range(20)]

    claims = await store.claim_sends(items)
    assert all(c.claimed for c in claims)
    again = await store.claim_sends(items[:2])
    assert [c.previous for c in again] == [items[0][1], items[1][1]]

    done = [
        FinishedSend(m, {**e, "state": "accepted"}, "sms.twilio", (f"SM{m}",)) for m, e in items
    ]
    await store.finish_sends(done)
    found = await store.lookup_external([("sms.twilio", f"SMmsg_{i}") for i in range(20)])
    assert [f and f["customer_id"] for f in found] == [f"cus_{i}" for i in range(20)]
    await store.release_sends([m for m, _ in items])
    assert all(c.claimed for c in await store.claim_sends(items))


async def test_timers_put_claim_ack_requeue_and_with_states(cluster: RedisCluster) -> None:
    timers = RedisTimerStore(cluster)
    store = RedisStateStore(cluster)
    specs = [
        TimerSpec(f"tmr_{i}", f"cus_{i}", NOW + timedelta(seconds=i), "wait") for i in range(5)
    ]
    await timers.schedule(specs[:2])
    # The decision worker's write: timers and states of customers in many slots.
    states = [CustomerState(f"cus_{i}", message_count=1) for i in range(5)]
    await store.save_states(states, schedule=specs[2:], cancel=["tmr_0"])

    assert [t.timer_id for t in await timers.pending()] == ["tmr_1", "tmr_2", "tmr_3", "tmr_4"]
    assert (await store.load_states(["cus_4"]))["cus_4"].message_count == 1
    claimed = await timers.claim_due(NOW + timedelta(seconds=3), lease_s=10)
    assert [t.timer_id for t in claimed] == ["tmr_1", "tmr_2", "tmr_3"]
    await timers.ack(["tmr_1"])
    assert await timers.requeue_expired(NOW + timedelta(seconds=30)) == 2
    assert await timers.counts(NOW + timedelta(seconds=30)) == {"waiting": 0, "due": 3, "leased": 0}
    await timers.cancel(["tmr_2", "tmr_3", "tmr_4"])
    assert await timers.pending() == []


async def test_deferred_sends_put_claim_ack_requeue(cluster: RedisCluster) -> None:
    deferred = DeferredSends(cluster)
    sends = [DeferredSend(f"msg_{i}", f"cus_{i}", "sms", NOW, "{}") for i in range(3)]
    await deferred.defer(sends)

    claimed = await deferred.claim_due(NOW, lease_s=5)
    assert sorted(s.message_id for s in claimed) == ["msg_0", "msg_1", "msg_2"]
    await deferred.ack(["msg_0"])
    assert await deferred.requeue_expired(NOW + timedelta(seconds=10)) == 2
    assert sorted(s.message_id for s in await deferred.pending()) == ["msg_1", "msg_2"]


async def test_policy_counters_of_customers_in_different_slots(cluster: RedisCluster) -> None:
    counters = PolicyCounters(cluster)
    caps = [
        Counter("caps.daily", "cap", "daily:all", 2, timedelta(days=1), "drop", "2 a day"),
        Counter("caps.sms", "cap", "daily:sms", 5, timedelta(days=1), "drop", "5 a day"),
        Counter("loop", "identical", "texthash", 3, timedelta(hours=1), "drop", "same text"),
    ]
    for customer in CUSTOMERS[:10]:
        assert (await counters.admit(customer, "m1", caps, NOW)).ok
        assert (await counters.admit(customer, "m2", caps, NOW)).ok
        assert (await counters.admit(customer, "m1", caps, NOW)).ok  # a redelivery passes
        full = await counters.admit(customer, "m3", caps, NOW)
        assert not full.ok
        assert full.counter == caps[0]
        assert full.until == NOW + timedelta(days=1)


async def test_an_inbound_message_gets_its_reply_with_the_service_on_a_cluster(
    settings: Settings, redis_cluster_url: str, cluster: RedisCluster
) -> None:
    on_cluster = settings.model_copy(update={"redis_url": redis_cluster_url})
    customers = [f"+1555123{i:04d}" for i in range(6)]
    async with Pipeline.running(on_cluster) as pipeline:
        topic = pipeline.service.topics.inbound("sms")
        for i, customer in enumerate(customers):
            await pipeline.produce(topic, sms_event(f"SMc{i}", customer, "HELP"), customer)

        sent = await eventually(pipeline.sandbox_messages, lambda m: len(m) == len(customers))
        assert sorted(m["to"] for m in sent) == customers
        assert all("Reply STOP to opt out" in m["body"] for m in sent)
        for customer in customers:
            await eventually(
                lambda c=customer: pipeline.ledger_steps(c),
                lambda s: ("status_changed", "delivered") in s,
            )
    # The service's state went to the cluster.
    store = RedisStateStore(cluster)
    owners = await store.owners([("sms", c) for c in customers])
    states = await store.load_states([str(o) for o in owners])
    assert [states[str(o)].identities for o in owners] == [{"sms": c} for c in customers]


async def test_a_batch_of_admissions_in_one_pipeline_counts_like_one_at_a_time(
    cluster: RedisCluster,
) -> None:
    counters = PolicyCounters(cluster)
    caps = [Counter("caps.daily", "cap", "daily:all", 2, timedelta(days=1), "drop", "2 a day")]
    await cluster.script_flush()  # the first batch finds no script loaded, and loads it
    batch = [(c, f"m{i}", caps) for c in CUSTOMERS[:10] for i in range(3)]
    batch.append(("cus_free", "m0", []))

    admissions = await counters.admit_many(batch, NOW)

    assert [a.ok for a in admissions] == [True, True, False] * 10 + [True]
    assert admissions[2].until == NOW + timedelta(days=1)
    again = await counters.admit_many(batch[:3], NOW)  # a redelivery: the same verdicts
    assert [a.ok for a in again] == [True, True, False]


async def test_a_flow_reload_broadcast_reaches_a_replica_on_another_node(
    settings: Settings, redis_cluster_url: str, cluster: RedisCluster
) -> None:
    nodes = [f"redis+cluster://{n.host}:{n.port}" for n in cluster.get_primaries()]
    installed: list[Catalogue] = []
    first = load_flows(settings.flows_dir, settings.flows_allowed_hosts, settings.flow_variables)
    sender_redis, listener_redis = make_redis(nodes[0]), make_redis(nodes[-1])
    await sender_redis.ping()  # as the service does at start: a cluster client maps its nodes
    await listener_redis.ping()
    sender = FlowReloader(settings, sender_redis, lambda: first, lambda c: None)
    listener = FlowReloader(settings, listener_redis, lambda: first, installed.append)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.listen(stop))
    try:
        # Broadcast until the listener has subscribed and reloaded once (pub/sub keeps nothing).
        async def broadcast() -> int:
            await sender.reload(broadcast=True)
            return len(installed)

        await eventually(broadcast, lambda n: n >= 1)
    finally:
        stop.set()
        await task
        await sender_redis.aclose()
        await listener_redis.aclose()
    assert {f.id for f in installed[0].flows} == {f.id for f in first.flows}


def test_a_stored_value_is_shown_as_json_by_hand(
    redis_cluster_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def store_one() -> None:
        redis = make_redis(redis_cluster_url)
        try:
            await RedisStateStore(redis).save_states([CustomerState("cus_show", tags=("vip",))])
        finally:
            await redis.aclose()

    asyncio.run(store_one())
    monkeypatch.setenv("CONTINUUM_REDIS_URL", redis_cluster_url)

    assert codec.main([keys.customer_key("cus_show")]) == 0
    assert orjson.loads(capsys.readouterr().out) == {"customer_id": "cus_show", "tags": ["vip"]}
    assert codec.main(["ct:cust:{nobody}"]) == 1
    assert "no such key" in capsys.readouterr().err
    assert codec.main([]) == 2
