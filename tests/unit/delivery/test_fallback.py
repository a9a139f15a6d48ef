"""The pure fallback decisions: which failures are worth another channel, the fallback
command and its derived id, what a due receipt check does, and when a status is final."""

from __future__ import annotations

import pytest

from orchestrator.delivery.fallback import (
    RECEIPT_TIMEOUT,
    check_due,
    expects_receipts,
    fallback_id,
    is_final,
    next_command,
    permanent,
    permanent_reason,
)
from orchestrator.events import Alternate, MessageSend

SMS = Alternate(channel="sms", to="+15550001", text="Your order shipped")
EMAIL = Alternate(channel="email", to="ann@example.com", text="Your order shipped", subject="Hi")


def _cmd(**kw: object) -> MessageSend:
    doc: dict[str, object] = {
        "message_id": "msg_1",
        "customer_id": "c1",
        "channel": "whatsapp",
        "to": "15550001",
        "sender": "biz",
        "text": "Your order shipped [Track]",
        "content": {"kind": "buttons", "buttons": [{"id": "t", "title": "Track"}]},
        "fallback": ["sms", "email"],
        "alternates": [SMS, EMAIL],
        "purpose": "transactional",
        "flow_id": "f",
        "step": "s",
        "template_name": "order_update",
        **kw,
    }
    return MessageSend.model_validate(doc)


@pytest.mark.parametrize(
    ("channel", "status", "code", "provider_status", "expected"),
    [
        pytest.param("whatsapp", "failed", "131026", None, True, id="meta-undeliverable"),
        pytest.param("whatsapp", "rejected", "131026", None, True, id="meta-at-send-time"),
        pytest.param("whatsapp", "failed", "131047", None, False, id="meta-window-not-permanent"),
        pytest.param("sms", "undelivered", "30006", None, True, id="twilio-landline"),
        pytest.param("sms", "rejected", "21614", None, True, id="twilio-not-mobile"),
        pytest.param("sms", "failed", "30001", None, False, id="twilio-queue-overflow"),
        pytest.param("sms", "failed", None, None, False, id="no-code"),
        pytest.param("email", "failed", "550", "bounce", True, id="hard-bounce"),
        pytest.param("email", "failed", None, "dropped", True, id="dropped"),
        pytest.param("email", "undelivered", None, "bounce", False, id="soft-bounce"),
        pytest.param("whatsapp", "delivered", "131026", None, False, id="not-a-failure"),
        pytest.param("webchat", "failed", "131026", None, False, id="other-medium"),
    ],
)
def test_permanent(
    channel: str, status: str, code: str | None, provider_status: str | None, expected: bool
) -> None:
    assert permanent(channel, status, code, provider_status) is expected


def test_the_fallback_is_the_next_alternate_rendered_for_it() -> None:
    fb = next_command(_cmd(), "permanent:131026")

    assert fb is not None
    assert (fb.message_id, fb.channel, fb.to, fb.text) == (
        "msg_1.fb1",
        "sms",
        "+15550001",
        "Your order shipped",
    )
    assert (fb.content, fb.template_name, fb.sender, fb.not_before) == (None, None, None, None)
    assert fb.alternates == [EMAIL]
    assert fb.fallback == ["email"]
    assert (fb.fallback_from, fb.fallback_reason) == ("msg_1", "permanent:131026")
    assert (fb.purpose, fb.flow_id, fb.step, fb.customer_id) == ("transactional", "f", "s", "c1")


def test_a_fallback_of_a_fallback_counts_on_from_the_original() -> None:
    first = next_command(_cmd(), "permanent:131026")
    assert first is not None
    second = next_command(first, RECEIPT_TIMEOUT)

    assert second is not None
    assert (second.message_id, second.channel, second.subject) == ("msg_1.fb2", "email", "Hi")
    assert (second.fallback_from, second.alternates) == ("msg_1", [])
    assert next_command(second, RECEIPT_TIMEOUT) is None


def test_no_alternates_no_fallback() -> None:
    assert next_command(_cmd(alternates=[], fallback=[]), "permanent:131026") is None


def test_an_id_that_only_looks_like_a_fallback_is_not_one() -> None:
    assert fallback_id(_cmd(message_id="order.fb3")) == "order.fb3.fb1"


def test_the_fallback_id_is_deterministic() -> None:
    assert fallback_id(_cmd()) == fallback_id(_cmd()) == "msg_1.fb1"


@pytest.mark.parametrize(
    ("kind", "current", "has_fallback", "expected"),
    [
        (RECEIPT_TIMEOUT, None, True, "fallback"),
        (RECEIPT_TIMEOUT, "sent", True, "fallback"),
        (RECEIPT_TIMEOUT, "failed", True, "fallback"),
        (RECEIPT_TIMEOUT, "delivered", True, None),
        (RECEIPT_TIMEOUT, "read", True, None),
        (RECEIPT_TIMEOUT, None, False, None),
        ("overdue", None, False, "overdue"),
        ("overdue", "sent", True, "overdue"),
        ("overdue", "unknown", True, "overdue"),
        ("overdue", "delivered", True, None),
        ("overdue", "undelivered", True, None),
        ("overdue", "failed", True, None),
        ("something", None, True, None),
    ],
)
def test_check_due(
    kind: str, current: str | None, has_fallback: bool, expected: str | None
) -> None:
    assert check_due(kind, current, has_fallback) == expected


@pytest.mark.parametrize(
    ("status", "fell_back", "expected"),
    [
        ("delivered", False, True),
        ("read", False, True),
        ("failed", False, True),
        ("undelivered", False, True),
        ("failed", True, False),
        ("sent", False, False),
        ("queued", False, False),
    ],
)
def test_is_final(status: str, fell_back: bool, expected: bool) -> None:
    assert is_final(status, fell_back) is expected


@pytest.mark.parametrize(
    ("provider", "expected"),
    [("sms.twilio", True), ("whatsapp.meta", True), ("email.smtp", False), (None, False)],
)
def test_expects_receipts(provider: str | None, expected: bool) -> None:
    assert expects_receipts(provider) is expected


def test_permanent_reason() -> None:
    assert permanent_reason("131026") == "permanent:131026"
    assert permanent_reason(None, "bounce") == "permanent:bounce"
    assert permanent_reason(None) == "permanent:failed"
