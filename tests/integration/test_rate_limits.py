"""Provider rate limits on real Redis: shared across limiter instances, two lanes, 429s.

The limiter is given its time (``now``), so these tests move a clock instead of sleeping; the
dispatcher tests use the rig of test_dispatch_retries.py with the rate limits on.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from redis.asyncio import RedisCluster

from channels.errors import Throttled
from orchestrator.delivery.rate_plan import Bucket, Lane, Take
from orchestrator.redis_client import RedisClient, make_redis
from orchestrator.settings import RateLimitSettings, Settings
from orchestrator.state import keys
from orchestrator.state.rate_limits import RateLimiter
from orchestrator.workers.dispatch_limits import STEP, DispatchLimits, provider_limits
from tests.integration.conftest import REPO
from tests.integration.helpers import Pipeline, eventually
from tests.integration.test_dispatch_retries import FailingAdapter, Rig
from tests.integration.test_policy_send_time import PHONE, add_customer
from tests.integration.test_policy_send_time import send_record as lane_record
from tests.integration.test_redis_cluster_round_trips import (
    NOW,
    customer,
    ledger_state,
    send_record,
)

TEN = Bucket("sms.twilio", "AC1", "sender:+15550000001", rate=10, burst=10)
SETTINGS = RateLimitSettings()  # bulk_share 0.8


def take(*buckets: Bucket, cost: int = 1, lane: Lane = "reply") -> Take:
    return Take(buckets or (TEN,), cost, lane)


@pytest.fixture(params=["single", "cluster"])
async def clients(
    request: pytest.FixtureRequest, redis_url: str, redis_cluster_url: str
) -> AsyncIterator[tuple[RedisClient, RedisClient]]:
    """Two clients of one emptied Redis (or cluster), as two dispatcher processes have."""
    url = redis_url if request.param == "single" else redis_cluster_url
    a, b = make_redis(url), make_redis(url)
    if isinstance(a, RedisCluster):
        await a.flushall(target_nodes=RedisCluster.PRIMARIES)
    else:
        await a.flushdb()
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


@pytest.fixture
async def client(
    clients: tuple[RedisClient, RedisClient],
) -> RedisClient:
    return clients[0]


@pytest.mark.timeout(60)
async def test_two_limiters_hold_one_rate_between_them(
    clients: tuple[RedisClient, RedisClient],
) -> None:
    one, two = RateLimiter(clients[0], SETTINGS), RateLimiter(clients[1], SETTINGS)
    granted = {"one": 0, "two": 0}
    for step in range(100):  # 10 s in 100 ms steps; each asks for 5 every step
        now = NOW + timedelta(milliseconds=100 * step)
        for name, limiter in (("one", one), ("two", two)):
            grants = await limiter.take_many([take() for _ in range(5)], now)
            granted[name] += sum(g.ok for g in grants)
    # a full bucket (10) at the start, then one every 100 ms: 10 + 99, shared
    assert granted["one"] + granted["two"] == 109
    assert granted["one"] > 0
    assert granted["two"] > 0


async def test_the_refused_are_given_successive_slots(client: RedisClient) -> None:
    limiter = RateLimiter(client, SETTINGS)
    grants = await limiter.take_many([take() for _ in range(15)], NOW)
    assert [g.ok for g in grants] == [True] * 10 + [False] * 5
    assert [g.retry_at for g in grants[10:]] == [
        NOW + timedelta(milliseconds=100 * n) for n in range(1, 6)
    ]
    assert {g.bucket for g in grants[10:]} == {TEN}
    # each comes back at its slot and finds room
    for n, grant in enumerate(grants[10:], start=1):
        assert grant.retry_at is not None
        [again] = await limiter.take_many([take()], grant.retry_at)
        assert again.ok, n


async def test_bulk_leaves_the_reserve_to_replies(client: RedisClient) -> None:
    limiter = RateLimiter(client, SETTINGS)
    bulk = await limiter.take_many([take(lane="bulk") for _ in range(20)], NOW)
    assert sum(g.ok for g in bulk) == 8  # 0.8 of the bucket
    replies = await limiter.take_many([take() for _ in range(3)], NOW)
    assert [g.ok for g in replies] == [True, True, False]
    # later, while bulk keeps asking, a reply still goes first: bulk needs the reserve back
    later = NOW + timedelta(milliseconds=100)
    [reply] = await limiter.take_many([take()], later)
    [more_bulk] = await limiter.take_many([take(lane="bulk")], later)
    assert reply.ok
    assert not more_bulk.ok


async def test_a_take_is_from_every_bucket_or_none(client: RedisClient) -> None:
    limiter = RateLimiter(client, SETTINGS)
    account = Bucket("sms.twilio", "AC1", "account", rate=1, burst=2)
    first = Bucket("sms.twilio", "AC1", "sender:+15550000001", rate=1, burst=1)
    second = Bucket("sms.twilio", "AC1", "sender:+15550000002", rate=1, burst=1)
    grants = await limiter.take_many(
        [take(account, first), take(account, first), take(account, second)], NOW
    )
    # the second is refused by its sender and takes nothing from the account: the third fits
    assert [g.ok for g in grants] == [True, False, True]
    assert grants[1].bucket == first


async def test_a_message_bigger_than_the_bucket_goes_when_it_is_full(client: RedisClient) -> None:
    limiter = RateLimiter(client, SETTINGS)
    long_code = Bucket("sms.twilio", "AC1", "sender:+15550000001", rate=1, burst=1.25)
    [big] = await limiter.take_many([take(long_code, cost=4)], NOW)
    assert big.ok
    [after] = await limiter.take_many([take(long_code)], NOW + timedelta(seconds=3))
    assert not after.ok  # four segments at one a second: one fits again at 3.75 s
    assert after.retry_at == NOW + timedelta(milliseconds=3750)


async def test_a_penalty_empties_the_bucket_until_retry_after(client: RedisClient) -> None:
    limiter = RateLimiter(client, SETTINGS)
    await limiter.penalise(TEN, NOW + timedelta(seconds=2), NOW)
    [refused] = await limiter.take_many([take()], NOW)
    assert not refused.ok
    assert refused.retry_at == NOW + timedelta(seconds=2)
    [granted] = await limiter.take_many([take()], NOW + timedelta(seconds=2))
    assert granted.ok
    ttl = await client.pttl(keys.rate_bucket_key("sms.twilio", "AC1", "sender:+15550000001"))
    assert 0 < ttl <= 4_000  # the bucket's state goes once it would be full again


async def test_a_lost_script_is_loaded_again(single: RedisClient) -> None:
    limiter = RateLimiter(single, SETTINGS)  # (a cluster pipeline sends EVAL: nothing to lose)
    await single.script_flush()
    grants = await limiter.take_many([take(), take()], NOW)
    assert all(g.ok for g in grants)
    await single.script_flush()
    await limiter.penalise(TEN, NOW + timedelta(seconds=1), NOW)
    [refused] = await limiter.take_many([take()], NOW)
    assert not refused.ok


# The dispatcher: a refused send is deferred (no attempt used), sent later; a 429 feeds back.


def limited_rig(client: RedisClient, adapter: FailingAdapter, sender_mps: float) -> Rig:
    r = Rig(client, adapter, attempts=3, backoff_s=60.0)
    rates = RateLimitSettings(twilio_account_mps=0, twilio_long_code_mps=sender_mps)
    settings = Settings(rate_limits=rates)
    limits = DispatchLimits(
        RateLimiter(client, rates), provider_limits(settings), rates, r.deps.metrics
    )
    r.worker._limits = limits  # the rig builds its worker without them
    return r


@pytest.fixture
async def single(redis_url: str) -> AsyncIterator[RedisClient]:
    redis = make_redis(redis_url)
    await redis.flushdb()
    try:
        yield redis
    finally:
        await redis.aclose()


@pytest.mark.timeout(30)
async def test_a_refused_send_is_deferred_without_an_attempt_and_sent_later(
    single: RedisClient,
) -> None:
    r = limited_rig(single, FailingAdapter(failures=0), sender_mps=1)
    await r.store.save_states([customer(f"cus_00000{i}") for i in range(3)])
    batch = [send_record(i, f"msg_l{i}", f"cus_00000{i}", "Hello") for i in range(3)]

    await r.worker.handle(batch)  # type: ignore[arg-type]

    # one a second from the default sender (+15559990000): one goes, two wait, none is lost
    assert r.adapter.calls == 1
    assert [await ledger_state(single, f"msg_l{i}") for i in range(3)] == [
        "accepted",
        None,  # the claims were released
        None,
    ]
    pending = await r.deferred.pending()
    assert [p.message_id for p in pending] == ["msg_l1", "msg_l2"]
    assert [p.value.encode() for p in pending] == [batch[1].value, batch[2].value]  # attempt 1
    assert [p.due - NOW for p in pending] == [timedelta(seconds=1), timedelta(seconds=2)]
    limited = [a for a in r.pub.audits if a.step == STEP]
    assert [(a.message_id, a.outcome) for a in limited] == [
        ("msg_l1", "sender"),
        ("msg_l2", "sender"),
    ]
    assert limited[0].detail == {
        "bucket": "sms.twilio:AC00000000000000000000000000000000:sender:+15559990000",
        "retry_at": (NOW + timedelta(seconds=1)).isoformat(),
    }
    metric = r.deps.metrics.rate_limited_total.labels("sms.twilio", "bulk")
    assert metric._value.get() == 2  # send_record's messages are marketing

    again = await r.release_next()
    assert r.clock.now == NOW + timedelta(seconds=1)
    await r.dispatch(again, 3)
    assert r.adapter.calls == 2
    assert await ledger_state(single, "msg_l1") == "accepted"


@pytest.mark.timeout(30)
async def test_a_second_refusal_by_the_same_bucket_is_the_same_ledger_row(
    single: RedisClient,
) -> None:
    r = limited_rig(single, FailingAdapter(failures=0), sender_mps=1)
    await r.store.save_states([customer("cus_000001"), customer("cus_000002")])
    first = send_record(0, "msg_a", "cus_000001", "Hello")
    second = send_record(1, "msg_b", "cus_000002", "Hello")
    await r.worker.handle([first, second])  # type: ignore[list-item]
    await r.worker.handle([second])  # type: ignore[list-item]  # redelivered: still refused
    rows = [a.record_id for a in r.pub.audits if a.step == STEP]
    assert len(rows) == 2
    assert len(set(rows)) == 1


@pytest.mark.timeout(30)
async def test_a_429_empties_the_bucket_until_retry_after(single: RedisClient) -> None:
    throttled = FailingAdapter(failures=1, error=Throttled("slow down", retry_after=5))
    r = limited_rig(single, throttled, sender_mps=100)
    await r.store.save_states([customer("cus_000001"), customer("cus_000002")])

    await r.worker.handle([send_record(0, "msg_t1", "cus_000001", "Hi")])  # type: ignore[list-item]
    assert r.adapter.calls == 1  # throttled: retried later (test_dispatch_retries)
    await r.worker.handle([send_record(1, "msg_t2", "cus_000002", "Hi")])  # type: ignore[list-item]

    assert r.adapter.calls == 1  # the bucket is empty: not sent
    [limited] = [a for a in r.pub.audits if a.step == STEP]
    assert limited.message_id == "msg_t2"
    # empty until Retry-After: a reply would go at 5 s, this marketing message leaves the
    # replies' reserve (0.2 of 100 at 100/s) and goes at 5.2 s
    assert limited.detail["retry_at"] == (NOW + timedelta(seconds=5.2)).isoformat()
    assert r.deps.metrics.rate_throttled_total.labels("sms.twilio")._value.get() == 1


# The whole service: both lanes consumed, refused sends released and sent, the rate held.


def uncapped_flows(tmp_path: Path) -> Path:
    """The repository's flows, with a policy without frequency caps (one customer here gets
    the whole burst)."""
    folder = tmp_path / "flows"
    shutil.copytree(REPO / "flows", folder)
    policy = yaml.safe_load((folder / "policy.yaml").read_text())
    policy["caps"] = []
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy))
    return folder


@pytest.mark.timeout(120)
async def test_the_service_sends_a_marketing_burst_at_the_rate_and_a_reply_ahead_of_it(
    settings: Settings, tmp_path: Path
) -> None:
    rates = RateLimitSettings(twilio_account_mps=0, twilio_long_code_mps=10)
    flows = uncapped_flows(tmp_path)
    settings = settings.model_copy(update={"rate_limits": rates, "flows_dir": flows})
    cid = "cus_burst"
    await add_customer(settings, cid)
    async with Pipeline.running(settings) as pipe:
        topics = pipe.service.topics
        ids = [f"msg_bulk_{i:02d}" for i in range(30)]
        for mid in ids:
            await pipe.produce(
                topics.outbound_bulk("sms"), lane_record(mid, cid, f"Offer {mid}"), cid
            )
        trail = await eventually(
            lambda: pipe.ledger(PHONE), lambda t: any(r.step == STEP for r in t), timeout=30
        )
        reply = lane_record("msg_reply", cid, "Your code", purpose="transactional")
        await pipe.produce(topics.outbound("sms"), reply, cid)
        trail = await eventually(
            lambda: pipe.ledger(PHONE),
            lambda t: len({r.message_id for r in t if r.step == "provider_accepted"}) == 31,
            timeout=60,
        )
    accepted = {r.message_id: r.occurred_at for r in trail if r.step == "provider_accepted"}
    first = min(accepted.values())
    # the reply did not wait for the burst: it went before the last of the burst had
    assert accepted["msg_reply"] < max(accepted[m] for m in ids)
    # 31 at 10 a second from one number, the first 8 (the bulk share of a bucket of 10) at once
    assert max(accepted.values()) - first >= timedelta(seconds=2)
    # no stretch of the run went faster than the bucket allows: 10 at once, then 10 a second
    # (2 more for the time between a token and its provider_accepted row). How many were held
    # depends on how fast the dispatcher read the burst, so that is not counted exactly.
    times = sorted(accepted.values())
    for i, start in enumerate(times):
        for j in range(i + 1, len(times)):
            span = (times[j] - start).total_seconds()
            assert j - i + 1 <= 10 + 10 * span + 2, f"{j - i + 1} sends in {span:.2f} s"
    limited = {r.message_id for r in trail if r.step == STEP}
    assert limited <= set(ids)
    assert limited
    assert {r.message_id for r in trail if r.step == "provider_attempt"} == set()
