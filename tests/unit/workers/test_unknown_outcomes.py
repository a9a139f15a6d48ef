"""An unknown outcome is indexed in the round trip that records it, and a receipt that names an
unknown send makes it known."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from orchestrator.events import MESSAGE_SEND, MessageStatus, new_event
from orchestrator.metrics import Metrics
from orchestrator.state import keys
from orchestrator.state.codec import load_entry
from orchestrator.state.unknown_sends import UnknownSend
from orchestrator.workers.outcomes import Outcome, Outcomes
from orchestrator.workers.unknown_outcomes import make_known
from tests.fakes import FakeStateStore, RecordingPublisher

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
ENTRY: dict[str, Any] = {
    "state": "unknown",
    "message_id": "msg_1",
    "customer_id": "c1",
    "channel": "email",
    "to": "a@example.com",
    "provider": "email.sendgrid",
}


def _command() -> Any:
    data = {
        "message_id": "msg_1",
        "customer_id": "c1",
        "channel": "email",
        "to": "a@example.com",
        "text": "Hi",
    }
    return new_event(MESSAGE_SEND, "msg_1", "/continuum/decision", data, time=T0)


async def test_an_unknown_outcome_is_indexed_in_the_same_round_trip() -> None:
    store, pub = FakeStateStore(), RecordingPublisher()
    outcomes = Outcomes(store, pub, clock=lambda: T0)
    await outcomes.record(Outcome("msg_1", ENTRY, "email.sendgrid", (), None, command=_command()))
    assert store.round_trips == 1
    indexed = UnknownSend.from_json(store.unknown["msg_1"])
    assert (indexed.provider, indexed.since, indexed.recorded_at) == ("email.sendgrid", T0, T0)
    # mapped under its own id, so that a receipt echoing it finds the send
    assert store.strings[keys.external_id_key("email.sendgrid", "msg_1")]


async def test_an_accepted_outcome_is_not_indexed() -> None:
    store, pub = FakeStateStore(), RecordingPublisher()
    accepted = {**ENTRY, "state": "accepted"}
    await Outcomes(store, pub).record(
        Outcome("msg_1", accepted, "email.sendgrid", ("SG1",), None, command=_command())
    )
    assert store.unknown == {}
    assert keys.external_id_key("email.sendgrid", "msg_1") not in store.strings


async def test_a_receipt_naming_an_unknown_send_makes_it_accepted_and_drops_it() -> None:
    store, pub = FakeStateStore(), RecordingPublisher()
    await Outcomes(store, pub, clock=lambda: T0).record(
        Outcome("msg_1", ENTRY, "email.sendgrid", (), None, command=_command())
    )
    receipt = MessageStatus(provider="email.sendgrid", external_id="msg_1", status="delivered")
    metrics = Metrics(CollectorRegistry())
    found = await store.lookup_external([("email.sendgrid", "msg_1")])
    sends, _ = await make_known(store, pub, metrics, lambda: T0, [receipt], found)
    assert sends[0] is not None
    assert sends[0]["state"] == "accepted"
    stored = load_entry(store.strings[keys.send_key("msg_1")])
    assert (stored["state"], stored["external_ids"]) == ("accepted", ["msg_1"])
    assert store.unknown == {}
    assert ("provider_reconciled", "accepted") in pub.steps()
    again, _ = await make_known(store, pub, metrics, lambda: T0, [receipt], sends)
    assert again == sends
    assert pub.steps().count(("provider_reconciled", "accepted")) == 1
