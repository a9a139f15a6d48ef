"""The contact policy at send time: opt-outs stop queued messages, deferrals go later, caps hold."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from redis.asyncio import Redis

from orchestrator.engine.model import CustomerState
from orchestrator.events import AuditRecord
from orchestrator.policy import consent
from orchestrator.policy.send_time import Counter
from orchestrator.service import Service
from orchestrator.settings import Settings
from orchestrator.state.policy_counters import PolicyCounters
from orchestrator.state.store import RedisStateStore
from tests.integration.conftest import REPO
from tests.integration.helpers import Pipeline, eventually, sms_event

PHONE = "+15551234001"


def daytime_zone(now: datetime) -> str:
    """A fixed-offset zone where it is now between 12:00 and 18:00 (no quiet hours)."""
    offset = next(o for o in range(-12, 15) if 12 <= (now.hour + o) % 24 < 18)
    return f"Etc/GMT{-offset:+d}"  # the Etc names' signs are inverted: Etc/GMT-5 is UTC+5


def send_record(message_id: str, customer_id: str, text: str, **data: object) -> bytes:
    cmd = {"message_id": message_id, "customer_id": customer_id, "channel": "sms", "to": PHONE}
    event = {
        "specversion": "1.0",
        "id": message_id,
        "source": "/tests",
        "type": "message.send",
        "data": {**cmd, "text": text, "purpose": "marketing", **data},
    }
    return orjson.dumps(event)


async def add_customer(settings: Settings, customer_id: str) -> None:
    """A customer who granted marketing consent on SMS, in a zone where it is daytime."""
    redis = Redis.from_url(settings.redis)
    store = RedisStateStore(redis)
    now = datetime.now(UTC)
    granted = {"sms": {"marketing": consent.record("granted", "test", now - timedelta(days=1))}}
    state = CustomerState(
        customer_id, identities={"sms": PHONE}, timezone=daytime_zone(now), consent=granted
    )
    await store.save_states([state])
    await store.resolve([("sms", PHONE, customer_id)])
    await redis.aclose()


def steps(trail: list[AuditRecord], step: str, ids: set[str]) -> list[AuditRecord]:
    return [r for r in trail if r.step == step and r.message_id in ids]


@contextlib.asynccontextmanager
async def started(*services: Service) -> AsyncIterator[None]:
    try:
        await asyncio.gather(*(s.start() for s in services))
        await asyncio.gather(*(s.wait_consuming() for s in services))
        yield
    finally:
        for service in services:
            await service.stop()


@pytest.mark.timeout(180)
async def test_an_opt_out_stops_100_queued_marketing_messages(settings: Settings) -> None:
    cid = "cus_optout"
    await add_customer(settings, cid)
    rest = Service(
        settings, workers=["inbound", "events", "decision", "status", "ledger"], sandbox=True
    )
    dispatcher = Service(settings, workers=["dispatcher"], api=False)
    async with started(rest), Pipeline.open(rest) as pipe:
        ids = {f"msg_offer_{i:03d}" for i in range(100)}
        for mid in sorted(ids):
            record = send_record(mid, cid, f"Offer {mid}: 20% off")
            await pipe.produce(rest.topics.outbound("sms"), record, cid)
        await pipe.produce(rest.topics.inbound("sms"), sms_event("SMstop", PHONE, "STOP"), PHONE)
        await eventually(lambda: pipe.ledger_steps(PHONE), lambda s: ("decision", "opt_out") in s)
        store = RedisStateStore(rest._redis)
        await eventually(
            lambda: store.load_states([cid]),
            lambda s: consent.opted_out(s[cid].consent, "sms") is not None,
        )
        async with started(dispatcher):
            trail = await eventually(
                lambda: pipe.ledger(PHONE),
                lambda t: (
                    len(steps(t, "policy_blocked", ids)) == 100
                    and any(r.step == "provider_accepted" for r in t)
                ),
                timeout=60,
            )
            sent = await pipe.sandbox_messages()
    assert len(sent) == 1
    assert "unsubscribed" in sent[0]["body"]
    blocked = steps(trail, "policy_blocked", ids)
    assert {r.message_id for r in blocked} == ids
    assert {r.outcome for r in blocked} == {"consent.marketing"}
    assert all(r.detail == {"rule": "consent.marketing", "at": "send"} for r in blocked)
    assert all(r.reason and "opted out" in r.reason for r in blocked)
    assert not steps(trail, "provider_accepted", ids)


@pytest.mark.timeout(120)
async def test_a_send_with_not_before_is_deferred_then_delivered_once(settings: Settings) -> None:
    async with Pipeline.running(settings) as pipe:
        due = datetime.now(UTC) + timedelta(seconds=2)
        record = send_record(
            "msg_later", "cus_later", "Your code is 1234", purpose="transactional",
            not_before=due.isoformat(),
        )  # fmt: skip
        await pipe.produce(pipe.service.topics.outbound("sms"), record, "cus_later")
        await eventually(
            lambda: pipe.ledger_steps(PHONE), lambda s: ("policy_deferred", "not_before") in s
        )
        sent = await eventually(pipe.sandbox_messages, lambda m: len(m) == 1)
        trail = await eventually(
            lambda: pipe.ledger(PHONE),
            lambda t: any(r.step == "provider_accepted" for r in t),
        )
    assert sent[0]["body"] == "Your code is 1234"
    accepted = [r for r in trail if r.step == "provider_accepted"]
    assert len(accepted) == 1
    assert accepted[0].occurred_at >= due
    deferred = next(r for r in trail if r.step == "policy_deferred")
    assert deferred.detail["due"] == due.isoformat()


def capped_flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    shutil.copytree(REPO / "flows", folder)
    policy = yaml.safe_load((folder / "policy.yaml").read_text())
    policy["caps"] = [
        {"id": "daily3", "purpose": "marketing", "channel": "all", "limit": 3, "window": "1d"}
    ]
    policy["quiet_hours"]["holidays"] = []
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy))
    return folder


@pytest.mark.timeout(180)
async def test_two_dispatchers_send_exactly_the_cap(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"flows_dir": capped_flows(tmp_path)})
    cid = "cus_capped"
    await add_customer(settings, cid)
    sink = Service(settings, workers=["ledger"], sandbox=True, api=False)
    first, second = (Service(settings, workers=["dispatcher"], api=False) for _ in range(2))
    # The sink starts first so that the ledger exists before the dispatchers write to it.
    async with started(sink), started(first, second), Pipeline.open(sink) as pipe:
        ids = {f"msg_cap_{i:02d}" for i in range(20)}
        topic = sink.topics.outbound("sms")
        # Both partitions, so that both dispatchers send to this customer at once.
        await asyncio.gather(
            *(
                pipe.producer.send_and_wait(
                    topic, send_record(mid, cid, f"Offer {mid}"), partition=i % 2
                )
                for i, mid in enumerate(sorted(ids))
            )
        )
        trail = await eventually(
            lambda: pipe.ledger(PHONE),
            lambda t: (
                len(steps(t, "policy_blocked", ids)) == 17
                and len(steps(t, "provider_accepted", ids)) == 3
            ),
            timeout=60,
        )
        assert len(await pipe.sandbox_messages()) == 3
    assert {r.outcome for r in steps(trail, "policy_blocked", ids)} == {"cap.daily3"}


def cap(limit: int) -> Counter:
    return Counter("cap.t", "cap", "t:all", limit, timedelta(days=1), "drop", "full")


@hsettings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(limit=st.integers(1, 5), attempts=st.integers(1, 30))
async def test_concurrent_admissions_never_exceed_the_limit(
    redis_url: str, limit: int, attempts: int
) -> None:
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    counters = [PolicyCounters(c) for c in clients]
    cid, now = f"cus_{uuid.uuid4().hex}", datetime.now(UTC)
    guard = Counter("loop_guard", "identical", "h", 1000, timedelta(minutes=5), "drop", "loop")
    try:
        results = await asyncio.gather(
            *(
                counters[i % 2].admit(cid, f"m{i}", [cap(limit), guard], now)
                for i in range(attempts)
            )
        )
        again = await counters[0].admit(cid, "m0", [cap(limit), guard], now)
    finally:
        for client in clients:
            await client.aclose()
    admitted = [r for r in results if r.ok]
    assert len(admitted) == min(limit, attempts)
    assert again.ok == results[0].ok  # a redelivery of a counted message is not counted again
    refused = [r for r in results if not r.ok]
    assert all(r.counter == cap(limit) and r.until == refused[0].until for r in refused)
