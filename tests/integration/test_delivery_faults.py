"""Delivery through the real sandbox with its injected faults (issue 11's list): what reached
the sandbox and what the ledger says.

A dispatcher with the production transport (aiohttp under httpx) sends SMS by Twilio, with
Vonage second in the chain; the sandbox runs on a real HTTP server and is told to fail through
its fault API (docs/sandbox.md). Retries go through the deferred queue and the release loop,
with a clock the test moves, as in test_dispatch_retries.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from channels._http import pool_limits
from channels.aiohttp_transport import AiohttpTransport
from channels.twilio.adapter import TwilioSms
from channels.twilio.settings import TwilioSettings
from channels.vonage import VonageSettings, VonageSms
from orchestrator.delivery.backoff import no_jitter
from orchestrator.metrics import Metrics
from orchestrator.policy.spec import Policy
from orchestrator.redis_client import RedisClient
from orchestrator.settings import BreakerSettings, DispatchSettings
from orchestrator.state.deferred import DeferredSends
from orchestrator.state.policy_counters import PolicyCounters
from orchestrator.state.store import RedisStateStore
from orchestrator.topics import Topics
from orchestrator.workers.base import Deps
from orchestrator.workers.dispatcher import DispatcherWorker
from orchestrator.workers.release import DeferredRelease
from tests.integration.helpers import RecordingPublisher, eventually
from tests.integration.test_breaker_failover import redis, sandbox_url
from tests.integration.test_dispatch_retries import AuditingPublisher, Clock
from tests.integration.test_redis_cluster_round_trips import (
    NOW,
    customer,
    ledger_state,
    send_record,
)

pytestmark = pytest.mark.integration
__all__ = ["redis", "sandbox_url"]  # the fixtures this module uses from another

BREAKER = BreakerSettings(
    window_s=60, min_calls=2, error_rate=0.5, consecutive_failures=2, cool_down_s=30, probes=1
)


class Rig:
    """One dispatcher (Twilio, then Vonage) and a release loop, on one Redis and the sandbox."""

    def __init__(
        self,
        redis: RedisClient,
        sandbox: str,
        http: httpx.AsyncClient,
        breakers: BreakerSettings = BREAKER,
    ) -> None:
        self.redis, self.sandbox, self.http = redis, sandbox, http
        self.clock = Clock()
        self.store, self.deferred = RedisStateStore(redis), DeferredSends(redis)
        self.pub, self.released = AuditingPublisher(), RecordingPublisher()
        metrics = Metrics(CollectorRegistry())
        self.deps = Deps(Topics(), self.store, metrics, self.clock, lambda: "unused")
        chain = (
            TwilioSms(TwilioSettings(base_url=sandbox), http),
            VonageSms(VonageSettings(base_url=sandbox), http),
        )
        self.worker = DispatcherWorker(
            self.deps,
            self.pub,  # type: ignore[arg-type]
            {"sms": chain[0]},
            {},
            policy=Policy,
            counters=PolicyCounters(redis),
            deferred=self.deferred,
            settings=DispatchSettings(attempts=3, backoff_s=1.0, backoff_max_s=10.0),
            chains={"sms": chain},
            breakers=breakers,
            draw=no_jitter,
        )
        self.release = DeferredRelease(
            self.deferred,
            self.released,  # type: ignore[arg-type]
            self.deps.topics,
            self.clock,
            metrics,
        )
        self.offset = 0

    async def fault(self, **rule: Any) -> None:
        (await self.http.post(f"{self.sandbox}/_sandbox/faults", json=rule)).raise_for_status()

    async def clear_faults(self) -> None:
        (await self.http.delete(f"{self.sandbox}/_sandbox/faults")).raise_for_status()

    async def dispatch(self, *values: bytes) -> None:
        records = []
        for value in values:
            record = send_record(self.offset, "unused", "unused", "unused")
            record.value, self.offset = value, self.offset + 1
            records.append(record)
        await self.worker.handle(records)  # type: ignore[arg-type]

    async def release_next(self) -> bytes | None:
        """Move the clock to the earliest deferred send and release it; its record."""
        due = await self.deferred.next_due()
        if due is None:
            return None
        self.clock.now = max(self.clock.now, due)
        self.released.published.clear()
        await self.release.release_due()
        [(_, event)] = self.released.published
        return event.to_bytes()

    async def until_settled(self, value: bytes | None = None) -> None:
        """Dispatch ``value`` (if any), then every retry the release loop hands back, until
        none is left."""
        if value is not None:
            await self.dispatch(value)
        while (again := await self.release_next()) is not None:
            await self.dispatch(again)

    async def reached(self, to: str) -> list[dict[str, Any]]:
        """The messages the sandbox accepted for ``to`` (by any provider: Vonage's numbers
        have no ``+``)."""
        resp = await self.http.get(f"{self.sandbox}/_sandbox/messages")
        resp.raise_for_status()
        return [m for m in resp.json() if m["to"].lstrip("+") == to.lstrip("+")]

    def steps(self, message_id: str) -> list[tuple[str, str]]:
        return [(r.step, r.outcome) for r in self.pub.audits if r.message_id == message_id]


@pytest.fixture
async def rig(redis: RedisClient, sandbox_url: str) -> AsyncIterator[Rig]:
    transport = AiohttpTransport(pool_limits(8))
    async with httpx.AsyncClient(transport=transport, timeout=5.0) as http:
        r = Rig(redis, sandbox_url, http)
        await r.store.save_states([customer(f"cus_{i:06d}") for i in range(1, 6)])
        yield r


@pytest.fixture
async def tolerant(redis: RedisClient, sandbox_url: str) -> AsyncIterator[Rig]:
    """A rig whose breakers do not open on a few failures (the retries are the subject)."""
    lenient = BreakerSettings(min_calls=100, consecutive_failures=100)
    transport = AiohttpTransport(pool_limits(8))
    async with httpx.AsyncClient(transport=transport, timeout=5.0) as http:
        r = Rig(redis, sandbox_url, http, lenient)
        await r.store.save_states([customer(f"cus_{i:06d}") for i in range(1, 6)])
        yield r


def to(cid: str) -> str:
    return f"+1555{cid[-6:]}"  # send_record's number for a customer


@pytest.mark.timeout(60)
async def test_a_429_is_retried_after_its_retry_after_and_then_delivered_once(rig: Rig) -> None:
    await rig.fault(provider="twilio", kind="throttle", retry_after=4, count=1)
    first = send_record(0, "msg_t1", "cus_000001", "Your code is 1234").value

    await rig.dispatch(first)

    [waiting] = await rig.deferred.pending()
    assert waiting.due == NOW + timedelta(seconds=4)  # Retry-After beats the 1 s backoff
    assert await rig.reached(to("cus_000001")) == []
    await rig.until_settled()
    [accepted] = await rig.reached(to("cus_000001"))
    assert accepted["provider"] == "twilio"
    assert await ledger_state(rig.redis, "msg_t1") == "accepted"
    assert rig.steps("msg_t1") == [
        ("provider_attempt", "connection_throttled"),
        ("provider_accepted", "queued"),
    ]
    [attempt] = [r for r in rig.pub.audits if r.step == "provider_attempt"]
    assert attempt.detail["attempt"] == 1
    assert attempt.detail["retry_after_s"] == 4
    assert attempt.detail["next_due"] == waiting.due.isoformat()


@pytest.mark.timeout(60)
async def test_5xx_three_times_is_failed_with_the_reason_and_nothing_reached(
    tolerant: Rig,
) -> None:
    rig = tolerant
    await rig.fault(provider="*", kind="error", status=500)  # Vonage too: no failover help
    first = send_record(0, "msg_f1", "cus_000002", "Your order shipped").value

    await rig.until_settled(first)

    assert await rig.reached(to("cus_000002")) == []
    assert await ledger_state(rig.redis, "msg_f1") == "failed"
    steps = rig.steps("msg_f1")
    assert [s for s in steps if s[0] != "provider_failover"] == [
        ("provider_attempt", "connection_failed"),
        ("provider_attempt", "connection_failed"),
        ("provider_failed", "connection_failed"),
    ]
    [failed] = [r for r in rig.pub.audits if r.step == "provider_failed"]
    assert "500" in (failed.reason or "")
    assert failed.detail["attempt"] == 3
    assert await rig.deferred.pending() == []


@pytest.mark.timeout(60)
async def test_a_slow_provider_answer_does_not_hold_another_customers_message(rig: Rig) -> None:
    slow, quick = "cus_000003", "cus_000004"
    await rig.fault(provider="twilio", kind="latency", seconds=3, match={"to": to(slow)})
    records = (
        send_record(0, "msg_slow", slow, "Slow one").value,
        send_record(1, "msg_quick", quick, "Quick one").value,
    )
    started = time.time()
    batch = asyncio.create_task(rig.dispatch(*records))
    arrived = await eventually(lambda: rig.reached(to(quick)), bool, timeout=10)
    assert arrived[0]["received_at"] - started < 1.0  # not behind the 3 s answer
    assert not batch.done()  # the slow answer is still awaited
    await batch
    assert await ledger_state(rig.redis, "msg_slow") == "accepted"
    assert await ledger_state(rig.redis, "msg_quick") == "accepted"


@pytest.mark.timeout(60)
async def test_a_twilio_outage_fails_over_to_vonage_and_back_after_the_half_open(rig: Rig) -> None:
    await rig.fault(provider="twilio", kind="down")
    for i, cid in enumerate(("cus_000001", "cus_000002")):
        await rig.dispatch(send_record(i, f"msg_o{i}", cid, "During the outage").value)
        [got] = await rig.reached(to(cid))
        assert got["provider"] == "vonage"
        assert ("provider_failover", "sms.vonage") in [
            (s, r.detail.get("to")) for r in rig.pub.audits if (s := r.step) == "provider_failover"
        ]
    state = await rig.redis.hget("ct:breaker:{sms.twilio}", "state")  # type: ignore[misc]
    assert state == b"open"
    before = len([r for r in rig.pub.audits if r.step == "provider_failover"])
    await rig.dispatch(send_record(2, "msg_o2", "cus_000003", "Still out").value)
    [got] = await rig.reached(to("cus_000003"))
    assert got["provider"] == "vonage"  # straight to Vonage: Twilio's breaker is open
    assert len([r for r in rig.pub.audits if r.step == "provider_failover"]) == before

    await rig.clear_faults()
    rig.clock.now = NOW + timedelta(seconds=BREAKER.cool_down_s)
    await rig.dispatch(send_record(3, "msg_o3", "cus_000004", "Back").value)
    [got] = await rig.reached(to("cus_000004"))
    assert got["provider"] == "twilio"  # the half-open probe succeeded
    state = await rig.redis.hget("ct:breaker:{sms.twilio}", "state")  # type: ignore[misc]
    assert state == b"closed"
