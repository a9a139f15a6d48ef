"""A SendGrid send whose outcome is unknown, reconciled through the Email Activity API (real
Redis, the sandbox over HTTP).

The sandbox's ``timeout`` fault accepts the mail and holds the answer past the adapter's
timeout, so the send is ``unknown``; the reconciler asks ``GET /v3/messages`` for the mail
whose ``continuum_message_id`` is ours, records it accepted with its ``X-Message-Id``, and a
receipt that names the mail only by ``sg_message_id`` (SendGrid drops custom args from some
bounces), parked before, is handed back and matches.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import CollectorRegistry

from channels.sandbox import SandboxConfig, create_sandbox_app
from channels.sandbox.faults import FaultRule
from channels.sandbox.runtime import SandboxRuntime
from channels.sendgrid import SendGridEmail, SendGridSettings
from orchestrator.events import MESSAGE_SEND, MESSAGE_STATUS, new_event
from orchestrator.http_server import HttpServer
from orchestrator.metrics import Metrics
from orchestrator.policy.spec import Policy
from orchestrator.redis_client import RedisClient, make_redis
from orchestrator.servers import free_port
from orchestrator.settings import ReconcileSettings, Settings
from orchestrator.state.deferred import DeferredSends
from orchestrator.state.policy_counters import PolicyCounters
from orchestrator.state.store import RedisStateStore
from orchestrator.state.unknown_sends import UnknownSends
from orchestrator.topics import Topics
from orchestrator.workers.base import Deps
from orchestrator.workers.dispatcher import DispatcherWorker
from orchestrator.workers.reconcile import Reconciler
from orchestrator.workers.status import StatusWorker
from tests.integration.helpers import FakeRecord
from tests.integration.test_dispatch_retries import AuditingPublisher
from tests.integration.test_redis_cluster_round_trips import customer
from tests.integration.test_unknown_outcomes import entry

PROVIDER = "email.sendgrid"
TO = "ann@example.org"
ADAPTER_TIMEOUT_S = 0.5  # the timeout fault holds the answer 2 s


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Rig:
    client: RedisClient
    runtime: SandboxRuntime
    pub: AuditingPublisher
    dispatcher: DispatcherWorker
    status: StatusWorker
    index: UnknownSends
    metrics: Metrics
    store: RedisStateStore
    adapter: SendGridEmail

    def reconciler(self) -> Reconciler:
        return Reconciler(
            self.index,
            self.store,
            {PROVIDER: self.adapter},
            self.pub,  # type: ignore[arg-type]
            Topics(),
            now,
            self.metrics,
            ReconcileSettings(delay_s=0),
        )

    async def dispatch(self, message_id: str, text: str) -> None:
        data = {
            "message_id": message_id,
            "customer_id": "cus_000001",
            "channel": "email",
            "to": TO,
            "text": text,
        }
        event = new_event(MESSAGE_SEND, message_id, "/test", data, time=now())
        record = FakeRecord(Topics().outbound("email"), 0, event.to_bytes())
        await self.dispatcher.handle([record])  # type: ignore[list-item]

    async def receipt(self, value: bytes) -> None:
        await self.status.handle([FakeRecord(Topics().status, 0, value)])  # type: ignore[list-item]

    def steps(self) -> list[tuple[str, str]]:
        return [(r.step, r.outcome) for r in self.pub.audits]


@pytest.fixture
async def rig(settings: Settings) -> AsyncIterator[Rig]:
    client = make_redis(settings.redis)
    port = free_port()
    app = create_sandbox_app(SandboxConfig())
    server = HttpServer(app, "127.0.0.1", port, "sandbox")
    await server.start()
    http = httpx.AsyncClient(timeout=ADAPTER_TIMEOUT_S)
    adapter = SendGridEmail(SendGridSettings(base_url=f"http://127.0.0.1:{port}"), http)
    store, pub, metrics = RedisStateStore(client), AuditingPublisher(), Metrics(CollectorRegistry())
    deps = Deps(topics=Topics(), store=store, metrics=metrics, clock=now, new_id=lambda: "unused")
    await store.save_states([customer("cus_000001")])
    dispatcher = DispatcherWorker(
        deps,
        pub,
        {"email": adapter},
        {},
        policy=Policy,  # type: ignore[arg-type]
        counters=PolicyCounters(client),
        deferred=DeferredSends(client),
    )
    status = StatusWorker(deps, pub)  # type: ignore[arg-type]
    try:
        yield Rig(
            client,
            app.state.sandbox,
            pub,
            dispatcher,
            status,
            UnknownSends(client),
            metrics,
            store,
            adapter,
        )
    finally:
        await http.aclose()
        await server.stop()
        await client.aclose()


@pytest.mark.timeout(60)
async def test_a_timed_out_sendgrid_send_is_reconciled_and_its_receipt_matches(rig: Rig) -> None:
    rig.runtime.faults.add(FaultRule(provider="sendgrid", kind="timeout", seconds=2, count=1))
    await rig.dispatch("msg_mail", "Your code is 4711")
    assert (await entry(rig.client, "msg_mail"))["state"] == "unknown"
    assert [step for step, _ in rig.steps()] == ["provider_unknown"]
    [stored] = rig.runtime.store.matching(provider="sendgrid", to=TO)  # SendGrid has it

    # A receipt naming the mail by SendGrid's id only: no send has it yet, so it is parked.
    receipt = new_event(
        MESSAGE_STATUS,
        "rcpt_1",
        "/test",
        {"provider": PROVIDER, "external_id": stored.sid, "status": "delivered"},
    )
    await rig.receipt(receipt.to_bytes())
    assert rig.pub.audits[-1].message_id is None

    assert await rig.reconciler().reconcile_due() is False
    done = await entry(rig.client, "msg_mail")
    assert (done["state"], done["external_ids"]) == ("accepted", [stored.sid])
    assert rig.steps()[-1] == ("provider_reconciled", "accepted")
    assert rig.pub.audits[-1].external_id == stored.sid
    assert await rig.index.count() == 0
    assert rig.metrics.reconcile_total.labels(PROVIDER, "found")._value.get() == 1

    [handed] = [e for t, e in rig.pub.published if t == Topics().status]
    await rig.receipt(handed.to_bytes())
    matched = rig.pub.audits[-1]
    assert (matched.step, matched.outcome, matched.message_id) == (
        "status_changed",
        "delivered",
        "msg_mail",
    )
