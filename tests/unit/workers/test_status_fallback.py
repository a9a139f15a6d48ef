"""The status worker on the status model: receipts of every provider matched by provider id and
moving only forward, the time to delivered, the outcome fields flows hear, and the fallback a
permanent failed receipt sends (in memory: tests/fakes.py)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from channels import ADAPTERS
from orchestrator.events import MESSAGE_SEND, MESSAGE_STATUS, CloudEvent, MessageSend
from orchestrator.metrics import Metrics
from orchestrator.settings import Settings
from orchestrator.state.store import FinishedSend
from orchestrator.topics import Topics
from orchestrator.workers.base import Deps
from orchestrator.workers.status import StatusWorker
from tests.fakes import FakeClock, FakeStateStore, RecordingPublisher
from tests.worker_behaviour import record, run

CHANNEL_OF = {t: t.split(".", 1)[0] for t in ADAPTERS}


class Rig:
    def __init__(self) -> None:
        self.store, self.pub, self.clock = FakeStateStore(), RecordingPublisher(), FakeClock()
        self.topics, self.metrics = Topics(), Metrics(CollectorRegistry())
        deps = Deps(
            topics=self.topics,
            store=self.store,
            metrics=self.metrics,
            clock=self.clock,
            new_id=lambda: "unused",
        )
        self.worker = StatusWorker(deps, self.pub, Settings().status)

    async def sent(self, provider: str, channel: str, **extra: Any) -> None:
        entry = {
            "state": "accepted",
            "message_id": "msg_1",
            "customer_id": "c1",
            "channel": channel,
            "to": "+15550001",
            "provider": provider,
            "accepted_at": self.clock().isoformat(),
            **extra,
        }
        await self.store.settle_sends([FinishedSend("msg_1", entry, provider, ("ext-1",))])

    async def receipt(self, provider: str, status: str, event_id: str, **data: Any) -> None:
        event = CloudEvent(
            specversion="1.0",
            id=event_id,
            source="/channels/test",
            type=MESSAGE_STATUS,
            data={"provider": provider, "external_id": "ext-1", "status": status, **data},
        )
        await run(self.worker, record(self.topics.status, event))

    def told(self) -> list[dict[str, Any]]:
        return [e.data or {} for e in self.pub.on(self.topics.customer)]


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
async def test_every_providers_receipts_match_by_its_id_and_only_move_forward(
    provider: str,
) -> None:
    rig = Rig()
    await rig.sent(provider, CHANNEL_OF[provider])
    rig.clock.advance(42)

    await rig.receipt(provider, "sent", "st1")
    await rig.receipt(provider, "delivered", "st2")
    await rig.receipt(provider, "sent", "st3")  # late: does not move it back
    await rig.receipt("other.provider", "failed", "st4")  # another provider's id: no match

    steps = [(r.step, r.outcome, r.message_id) for r in rig.pub.audits]
    assert steps == [
        ("status_changed", "sent", "msg_1"),
        ("status_changed", "delivered", "msg_1"),
        ("status_stale", "sent", "msg_1"),
        ("status_changed", "failed", None),
    ]
    assert rig.pub.audits[1].detail["time_to_delivered_s"] == 42.0
    assert [(d["status"], d["final"]) for d in rig.told()] == [("sent", False), ("delivered", True)]
    channel = CHANNEL_OF[provider]
    sample = rig.metrics.registry.get_sample_value(
        "continuum_time_to_delivered_seconds_sum", {"channel": channel, "provider": provider}
    )
    assert sample == 42.0


def _command(**kw: Any) -> dict[str, Any]:
    doc = {
        "message_id": "msg_1",
        "customer_id": "c1",
        "channel": "whatsapp",
        "to": "15550001",
        "text": "Shipped",
        "fallback": ["sms"],
        "alternates": [{"channel": "sms", "to": "+15550001", "text": "Shipped (sms)"}],
        **kw,
    }
    return MessageSend.model_validate(doc).model_dump(mode="json", exclude_none=True)


async def test_a_permanent_failed_receipt_sends_the_next_channel_once() -> None:
    rig = Rig()
    await rig.sent("whatsapp.meta", "whatsapp", command=_command())

    await rig.receipt("whatsapp.meta", "failed", "st1", error_code="131026")
    await rig.receipt("whatsapp.meta", "failed", "st1")  # the same receipt again: stale

    [fb] = rig.pub.on(rig.topics.outbound("sms"))
    assert fb.type == MESSAGE_SEND
    cmd = MessageSend.model_validate(fb.data)
    assert (cmd.message_id, cmd.to, cmd.text) == ("msg_1.fb1", "+15550001", "Shipped (sms)")
    assert (cmd.fallback_from, cmd.fallback_reason) == ("msg_1", "permanent:131026")
    assert [(r.step, r.outcome) for r in rig.pub.audits] == [
        ("fallback_sent", "sms"),
        ("status_changed", "failed"),
        ("status_stale", "failed"),
    ]
    assert rig.pub.audits[1].detail["fallback_to"] == "sms"
    [told] = rig.told()
    assert (told["final"], told["fallback_to"], told["fallback_from"]) == (False, "sms", None)


async def test_a_failure_that_is_not_permanent_is_final_and_sends_nothing() -> None:
    rig = Rig()
    await rig.sent("whatsapp.meta", "whatsapp", command=_command())

    await rig.receipt("whatsapp.meta", "failed", "st1", error_code="131047")

    assert rig.pub.on(rig.topics.outbound("sms")) == []
    [told] = rig.told()
    assert (told["status"], told["final"], told["fallback_to"]) == ("failed", True, None)


async def test_a_fallbacks_own_status_names_the_original() -> None:
    rig = Rig()
    await rig.sent("sms.twilio", "sms", fallback_from="msg_0")

    await rig.receipt("sms.twilio", "undelivered", "st1", error_code="30006")  # nothing left

    assert rig.pub.on(rig.topics.outbound("email")) == []
    [told] = rig.told()
    assert (told["final"], told["fallback_from"]) == (True, "msg_0")
