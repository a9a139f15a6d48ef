"""A send that fails for good in the dispatcher (refused with no fallback left, or out of
attempts) is told to the customer's flows as a final ``failed`` status, once, so that a flow
waiting on the outcome (``wait`` ``status: final``) branches instead of timing out."""

from __future__ import annotations

from typing import Any

from channels.errors import ConnectionFailed, MarketingStopped, RejectedWithReason, SendError
from orchestrator.events import MESSAGE_SEND, CloudEvent, new_event
from orchestrator.settings import Settings
from orchestrator.workers.dispatcher import _Send
from tests.unit.sends import bare_dispatcher, message_send
from tests.unit.workers.test_dispatch_opt_out import Recorder, Refusing


async def _settle(error: SendError, attempt: int = 1) -> tuple[str, list[CloudEvent]]:
    """One attempt refused with ``error``, then what the batch does once outcomes are recorded."""
    worker = bare_dispatcher(Settings(), {"whatsapp": Refusing(error)})
    recorder = Recorder()
    worker._pub = recorder  # type: ignore[assignment]
    none: Any = None
    cmd = message_send(channel="whatsapp", to="+15551230001", purpose="service")
    entry = {"state": "pending", "message_id": cmd.message_id, "provider": "whatsapp.meta"}
    event = new_event(MESSAGE_SEND, cmd.message_id, "/test", cmd, customer_id=cmd.customer_id)
    _, _, state = await worker._attempt(_Send(none, event, cmd, attempt, entry))
    await worker._tell_flows_stopped()
    await worker._after_outcomes()
    return state, [event for _, event, _ in recorder.published]


async def test_a_refusal_with_no_fallback_is_a_final_failure_for_the_flows() -> None:
    state, [event] = await _settle(RejectedWithReason("131026", "undeliverable"))
    assert state == "rejected"
    assert (event.type, event.id) == ("message.status", "msg_1:final")
    assert event.data is not None
    fields = ("status", "final", "error_code", "provider", "fallback_to")
    assert {k: event.data.get(k) for k in fields} == {
        "status": "failed",
        "final": True,
        "error_code": "131026",
        "provider": "whatsapp.meta",
        "fallback_to": None,
    }


async def test_the_last_attempt_failing_is_a_final_failure_for_the_flows() -> None:
    attempts = Settings().dispatch.attempts
    state, [event] = await _settle(ConnectionFailed("refused"), attempt=attempts)
    assert state == "failed"
    assert event.data is not None
    assert (event.data["status"], event.data["final"]) == ("failed", True)


async def test_a_failure_with_attempts_left_tells_the_flows_nothing() -> None:
    state, published = await _settle(ConnectionFailed("refused"), attempt=1)
    assert state == "retried"
    assert published == []


async def test_an_opt_out_refusal_is_told_once_as_an_opt_out() -> None:
    state, [event] = await _settle(MarketingStopped("meta error 131050: stopped marketing"))
    assert state == "rejected"
    assert event.data is not None
    assert event.data["opted_out"] is True
    assert event.id == "msg_1:contact_stopped"
