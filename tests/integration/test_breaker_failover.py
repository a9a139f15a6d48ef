"""Circuit breakers and failover on real Redis and the real sandbox.

The breaker scripts give what the pure state machine gives, on the same sequences. Two
dispatcher instances share the breakers: while the sandbox's Twilio answers 503 (a transport
wrapper inside this test turns its answers to 503), the breaker opens and SMS goes by Vonage;
after the cool-down one probe goes to Twilio and, as it succeeds, traffic fails back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry

from channels.sandbox.app import create_sandbox_app
from channels.sandbox.config import SandboxConfig
from channels.twilio.adapter import TwilioSms
from channels.twilio.settings import TwilioSettings
from channels.vonage import VonageSettings, VonageSms
from orchestrator.delivery import breaker
from orchestrator.delivery.breaker import Breaker, Result
from orchestrator.http_server import HttpServer
from orchestrator.metrics import Metrics
from orchestrator.policy.spec import Policy
from orchestrator.redis_client import RedisClient, make_redis
from orchestrator.servers._ports import free_port
from orchestrator.settings import BreakerSettings
from orchestrator.state import keys
from orchestrator.state.breakers import queue_record, queue_views, read_record, read_views
from orchestrator.state.codec import load_entry
from orchestrator.state.deferred import DeferredSends
from orchestrator.state.policy_counters import PolicyCounters
from orchestrator.state.store import RedisStateStore
from orchestrator.topics import Topics
from orchestrator.workers.base import Deps
from orchestrator.workers.dispatcher import DispatcherWorker
from tests.integration.test_dispatch_retries import AuditingPublisher, Clock
from tests.integration.test_redis_cluster_round_trips import NOW, customer, send_record

pytestmark = pytest.mark.integration

RULES = BreakerSettings(
    window_s=60, min_calls=4, error_rate=0.5, consecutive_failures=2, cool_down_s=30, probes=1
)

OUTAGE = RULES.model_copy(update={"min_calls": 2})  # two 503s (failures, not connection ones)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = make_redis(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


SEQUENCES: list[list[tuple[str, int, list[Result]]]] = [
    # (op, ms after the start, results): "v" views (want = len(results) or 1), "r" records
    [("r", 0, ["connection", "connection"]), ("v", 10, []), ("v", 30_000, ["success"])],
    [("r", 0, ["failure", "success", "failure", "success"]), ("v", 1, [])],
    [("r", 0, ["connection"] * 2), ("v", 30_000, []), ("r", 30_001, ["failure"])],
    [
        ("r", 0, ["connection"] * 2),
        ("v", 30_000, []),
        ("v", 60_001, []),
        ("r", 60_002, ["success"]),
    ],
    [("r", 0, ["failure", "success"]), ("r", 61_000, ["failure", "failure", "success"])],
]


@pytest.mark.parametrize("steps", SEQUENCES)
async def test_the_scripts_move_a_breaker_as_the_state_machine_does(
    redis: RedisClient, steps: list[tuple[str, int, list[Result]]]
) -> None:
    pure, t0 = Breaker(), 1_800_000_000_000
    for op, at, results in steps:
        async with redis.pipeline(transaction=False) as pipe:
            if op == "v":
                wants = {"sms.twilio": max(1, len(results))}
                queue_views(pipe, wants, t0 + at, RULES)
                seen = read_views(wants, await pipe.execute(), RULES)["sms.twilio"]
                pure, slots, moved = breaker.view(pure, t0 + at, wants["sms.twilio"], RULES)
                assert (seen.view.state, seen.view.slots, seen.moved) == (pure.state, slots, moved)
            else:
                done = {"sms.twilio": results}
                queue_record(pipe, done, t0 + at, RULES)
                state, moved = read_record(done, await pipe.execute())["sms.twilio"]
                pure, pure_moved = breaker.record(pure, results, t0 + at, RULES)
                assert (state, moved) == (pure.state, pure_moved)
        stored = await redis.hgetall(keys.breaker_key("sms.twilio"))  # type: ignore[misc]
        assert {k.decode(): int(v) for k, v in stored.items() if k != b"state"} == {
            "since": pure.since_ms,
            "window": pure.window_ms,
            "calls": pure.calls,
            "failures": pure.failures,
            "consecutive": pure.consecutive,
            "probes": pure.probes,
        }


class TwilioOutage(httpx.AsyncBaseTransport):
    """The sandbox, with its Twilio answering 503 while ``down`` (this test's fault)."""

    def __init__(self) -> None:
        self.down = False
        self.twilio_calls = 0
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "/2010-04-01/" in request.url.path:
            self.twilio_calls += 1
            if self.down:
                return httpx.Response(503, json={"message": "down"})
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
async def sandbox_url() -> AsyncIterator[str]:
    port = free_port()
    async with httpx.AsyncClient() as callbacks:
        server = HttpServer(create_sandbox_app(SandboxConfig(), callbacks), "127.0.0.1", port, "sb")
        await server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await server.stop()


async def test_twilio_down_opens_its_breaker_sms_goes_by_vonage_then_fails_back(
    redis: RedisClient, sandbox_url: str
) -> None:
    outage = TwilioOutage()
    store = RedisStateStore(redis)
    clock = Clock()
    metrics = Metrics(CollectorRegistry())
    cids = [f"cus_{i:06d}" for i in range(12)]
    await store.save_states([customer(c) for c in cids])
    async with httpx.AsyncClient(transport=outage) as http:
        chain = (
            TwilioSms(TwilioSettings(base_url=sandbox_url), http),
            VonageSms(VonageSettings(base_url=sandbox_url), http),
        )

        def dispatcher() -> tuple[DispatcherWorker, AuditingPublisher]:
            pub = AuditingPublisher()
            deps = Deps(Topics(), store, metrics, clock, lambda: "unused")
            worker = DispatcherWorker(
                deps,
                pub,  # type: ignore[arg-type]
                {"sms": chain[0]},
                {},
                policy=Policy,
                counters=PolicyCounters(redis),
                deferred=DeferredSends(redis),
                chains={"sms": chain},
                breakers=OUTAGE,
            )
            return worker, pub

        (one, pub_one), (two, pub_two) = dispatcher(), dispatcher()

        async def send(worker: DispatcherWorker, n: int) -> str:
            mid = f"msg_{n}"
            await worker.handle([send_record(n, mid, cids[n], f"Offer {n}")])  # type: ignore[list-item]
            raw = await redis.get(keys.send_key(mid))
            entry = load_entry(raw) if raw else {}
            assert entry.get("state") == "accepted", entry
            return str(entry["provider"])

        outage.down = True
        # Twilio answers 503 and each send moves to Vonage at once; 2 of 2 failed: it opens.
        assert await send(one, 0) == "sms.vonage"
        assert await send(two, 1) == "sms.vonage"
        rows = [r for r in pub_one.audits + pub_two.audits if r.step == "provider_failover"]
        assert [(r.detail["from"], r.detail["to"]) for r in rows] == [
            ("sms.twilio", "sms.vonage")
        ] * 2
        state = await redis.hget(keys.breaker_key("sms.twilio"), "state")  # type: ignore[misc]
        assert state == b"open"
        calls = outage.twilio_calls
        # Open: the other dispatcher sends by Vonage without trying Twilio.
        assert await send(one, 2) == "sms.vonage"
        assert await send(two, 3) == "sms.vonage"
        assert outage.twilio_calls == calls

        outage.down = False
        clock.now = NOW + timedelta(seconds=RULES.cool_down_s)
        # Half-open: one probe goes to Twilio, succeeds, and closes the breaker for everyone.
        assert await send(two, 4) == "sms.twilio"
        assert outage.twilio_calls == calls + 1
        state = await redis.hget(keys.breaker_key("sms.twilio"), "state")  # type: ignore[misc]
        assert state == b"closed"
        assert await send(one, 5) == "sms.twilio"
        sample = metrics.registry.get_sample_value
        moves = {"from": "sms.twilio", "to": "sms.vonage"}
        assert sample("continuum_failovers_total", moves) == 2
        for to in ("open", "half_open", "closed"):
            labels = {"provider": "sms.twilio", "to": to}
            assert sample("continuum_provider_breaker_transitions_total", labels) == 1
        assert sample("continuum_provider_breaker_state", {"provider": "sms.twilio"}) == 0


async def test_every_breaker_open_defers_the_send_without_using_an_attempt(
    redis: RedisClient,
) -> None:
    store = RedisStateStore(redis)
    clock = Clock()
    await store.save_states([customer("cus_000001")])
    for provider in ("sms.twilio", "sms.vonage"):
        async with redis.pipeline(transaction=False) as pipe:
            queue_record(pipe, {provider: ["connection"] * 2}, _ms(NOW), RULES)
            await pipe.execute()
    async with httpx.AsyncClient(transport=TwilioOutage()) as http:
        chain = (TwilioSms(TwilioSettings(), http), VonageSms(VonageSettings(), http))
        pub = AuditingPublisher()
        worker = DispatcherWorker(
            Deps(Topics(), store, Metrics(CollectorRegistry()), clock, lambda: "unused"),
            pub,  # type: ignore[arg-type]
            {"sms": chain[0]},
            {},
            policy=Policy,
            counters=PolicyCounters(redis),
            deferred=DeferredSends(redis),
            chains={"sms": chain},
            breakers=RULES,
        )
        record = send_record(0, "msg_wait", "cus_000001", "Hello")
        await worker.handle([record])  # type: ignore[list-item]
    assert await redis.get(keys.send_key("msg_wait")) is None  # claim released
    [waiting] = await DeferredSends(redis).pending()
    assert waiting.due == NOW + timedelta(seconds=RULES.cool_down_s)
    assert waiting.value == record.value.decode()  # the same attempt: none used
    [row] = [r for r in pub.audits if r.step == "provider_unavailable"]
    assert row.outcome == "breaker_open"


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
