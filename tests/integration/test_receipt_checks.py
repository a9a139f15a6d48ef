"""Fallback and receipt checks on real Redis: a send the provider refuses permanently falls back
to its next channel at once; an accepted one gets its receipt checks, and when they fall due the
receipt-check loop falls back (no delivery by ``receipt_timeout``) and flags the message
``delivery_overdue`` (no receipt by ``status.overdue_s``), unless a receipt came."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from prometheus_client import CollectorRegistry

from channels.base import OutboundMessage, SendResult
from channels.errors import RejectedWithReason
from orchestrator.delivery.fallback import RECEIPT_TIMEOUT
from orchestrator.events import MESSAGE_SEND, CloudEvent, MessageSend
from orchestrator.metrics import Metrics
from orchestrator.policy.spec import Policy
from orchestrator.redis_client import RedisClient, make_redis
from orchestrator.state import message_status
from orchestrator.state.deferred import DeferredSends
from orchestrator.state.policy_counters import PolicyCounters
from orchestrator.state.receipt_checks import ReceiptChecks
from orchestrator.state.store import RedisStateStore
from orchestrator.topics import Topics
from orchestrator.workers.base import Deps
from orchestrator.workers.dispatcher import DispatcherWorker
from orchestrator.workers.receipts import ReceiptCheckLoop
from tests.integration.helpers import FakeRecord
from tests.integration.test_dispatch_retries import AuditingPublisher, Clock
from tests.integration.test_redis_cluster_round_trips import NOW, customer

LANDLINE = "+15550006000"
OVERDUE_S = 600.0


class Sms:
    """Accepts, except to :data:`LANDLINE` (Twilio 21614, not a mobile number)."""

    channel_type: ClassVar[str] = "sms.twilio"
    secret_fields: ClassVar[tuple[str, ...]] = ()

    async def send(self, msg: OutboundMessage) -> SendResult:
        if msg.to == LANDLINE:
            raise RejectedWithReason("21614", "'To' number is not a valid mobile number")
        return SendResult(external_ids=(f"SM{msg.message_id}",), status="queued")


class Email:
    channel_type: ClassVar[str] = "email.sendgrid"
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, msg: OutboundMessage) -> SendResult:
        self.sent.append(msg)
        return SendResult(external_ids=(f"SG{msg.message_id}",), status="queued")


class Rig:
    def __init__(self, client: RedisClient) -> None:
        self.client, self.clock = client, Clock()
        self.topics, self.metrics = Topics(), Metrics(CollectorRegistry())
        self.store = RedisStateStore(client)
        self.deps = Deps(
            topics=self.topics,
            store=self.store,
            metrics=self.metrics,
            clock=self.clock,
            new_id=lambda: "unused",
        )
        self.pub, self.email = AuditingPublisher(), Email()
        self.checks = ReceiptChecks(client)
        self.worker = DispatcherWorker(
            self.deps,
            self.pub,  # type: ignore[arg-type]
            {"sms": Sms(), "email": self.email},  # type: ignore[dict-item]
            {},
            policy=Policy,
            counters=PolicyCounters(client),
            deferred=DeferredSends(client),
            receipts=self.checks,
            overdue_s=OVERDUE_S,
        )
        self.loop = ReceiptCheckLoop(
            self.checks,
            client,
            self.pub,  # type: ignore[arg-type]
            self.topics,
            self.clock,
            self.metrics,
        )

    async def dispatch(self, cmd: MessageSend, offset: int = 0) -> None:
        event = CloudEvent(
            specversion="1.0",
            id=cmd.message_id,
            source="/test",
            type=MESSAGE_SEND,
            data=cmd.model_dump(mode="json", exclude_none=True),
        )
        record = FakeRecord(self.topics.outbound(cmd.channel), offset, event.to_bytes())
        await self.worker.handle([record])  # type: ignore[list-item]

    def sends_on(self, channel: str) -> list[MessageSend]:
        return [
            MessageSend.model_validate(e.data)
            for t, e in self.pub.published
            if t == self.topics.outbound(channel)
        ]

    def told(self) -> list[dict[str, Any]]:
        return [e.data or {} for t, e in self.pub.published if t == self.topics.customer]

    def steps(self) -> list[tuple[str, str, str | None]]:
        return [(r.step, r.outcome, r.message_id) for r in self.pub.audits]


def command(to: str, receipt_timeout_s: float | None = None) -> MessageSend:
    return MessageSend.model_validate(
        {
            "message_id": "msg_1",
            "customer_id": "cus_000001",
            "channel": "sms",
            "to": to,
            "text": "Your order shipped",
            "purpose": "service",
            "fallback": ["email"],
            "alternates": [{"channel": "email", "to": "ann@example.com", "text": "Shipped!"}],
            "receipt_timeout_s": receipt_timeout_s,
        }
    )


@pytest.fixture
async def rig(redis_url: str) -> AsyncIterator[Rig]:
    client = make_redis(redis_url)
    await client.flushdb()
    r = Rig(client)
    await r.store.save_states([customer("cus_000001")])
    try:
        yield r
    finally:
        await client.aclose()


@pytest.mark.timeout(30)
async def test_a_permanent_refusal_falls_back_at_once(rig: Rig) -> None:
    await rig.dispatch(command(LANDLINE))

    [fb] = rig.sends_on("email")
    assert (fb.message_id, fb.to, fb.text) == ("msg_1.fb1", "ann@example.com", "Shipped!")
    assert (fb.fallback_from, fb.fallback_reason) == ("msg_1", "permanent:21614")
    assert rig.steps() == [
        ("provider_rejected", "rejected_with_reason", "msg_1"),
        ("fallback_sent", "email", "msg_1"),
    ]
    [told] = rig.told()
    assert (told["status"], told["final"], told["fallback_to"]) == ("failed", False, "email")
    assert await rig.checks.pending() == []  # a refused send has no receipt to wait for

    await rig.dispatch(fb, 1)  # the fallback goes through the dispatcher like any send
    assert [m.message_id for m in rig.email.sent] == ["msg_1.fb1"]
    await rig.dispatch(fb, 2)  # a second copy is refused by the send ledger
    assert len(rig.email.sent) == 1


@pytest.mark.timeout(30)
async def test_no_delivery_by_the_receipt_timeout_falls_back_then_it_is_overdue(rig: Rig) -> None:
    await rig.dispatch(command("+15550001000", receipt_timeout_s=60))
    pending = await rig.checks.pending()
    assert [(c.kind, c.due) for c in pending] == [
        (RECEIPT_TIMEOUT, NOW + timedelta(seconds=60)),
        ("overdue", NOW + timedelta(seconds=OVERDUE_S)),
    ]

    rig.clock.now = NOW + timedelta(seconds=59)
    assert await rig.loop.handle_due() is False
    assert rig.sends_on("email") == []
    rig.clock.now = NOW + timedelta(seconds=60)
    await rig.loop.handle_due()
    [fb] = rig.sends_on("email")
    assert (fb.message_id, fb.fallback_reason) == ("msg_1.fb1", RECEIPT_TIMEOUT)

    await message_status.advance(rig.client, [("msg_1", "sent")])  # sent is not a delivery
    rig.clock.now = NOW + timedelta(seconds=OVERDUE_S)
    await rig.loop.handle_due()
    overdue = [r for r in rig.pub.audits if r.step == "delivery_overdue"]
    assert [(r.outcome, r.message_id, r.provider) for r in overdue] == [
        ("sent", "msg_1", "sms.twilio")
    ]
    assert overdue[0].detail["waited_s"] == OVERDUE_S
    [told] = rig.told()
    assert (told["status"], told["message_id"], told["channel"]) == (
        "delivery_overdue",
        "msg_1",
        "sms",
    )
    sample = rig.metrics.registry.get_sample_value(
        "continuum_delivery_overdue_total", {"channel": "sms", "provider": "sms.twilio"}
    )
    assert sample == 1.0
    assert await rig.checks.pending() == []


@pytest.mark.timeout(30)
async def test_a_delivered_message_neither_falls_back_nor_is_overdue(rig: Rig) -> None:
    await rig.dispatch(command("+15550001000", receipt_timeout_s=60))
    await message_status.advance(rig.client, [("msg_1", "delivered")])

    rig.clock.now = NOW + timedelta(seconds=OVERDUE_S)
    await rig.loop.handle_due()

    assert rig.sends_on("email") == []
    assert [s for s, _, _ in rig.steps()] == ["provider_accepted"]
    assert rig.told() == []
    assert await rig.checks.pending() == []


@pytest.mark.timeout(30)
async def test_the_receipt_timeout_sends_no_fallback_that_was_sent_already(rig: Rig) -> None:
    await rig.dispatch(command("+15550001000", receipt_timeout_s=60))
    await message_status.advance(rig.client, [("msg_1", "failed")])
    fb = command("+15550001000").model_copy(
        update={"message_id": "msg_1.fb1", "channel": "email", "to": "ann@example.com"}
    )
    await rig.dispatch(fb.model_copy(update={"alternates": [], "fallback": []}), 1)  # as sent
    assert [m.message_id for m in rig.email.sent] == ["msg_1.fb1"]  # by a permanent failure

    rig.clock.now = NOW + timedelta(seconds=60)
    await rig.loop.handle_due()

    assert rig.sends_on("email") == []
    assert not any(r.step == "fallback_sent" for r in rig.pub.audits)
