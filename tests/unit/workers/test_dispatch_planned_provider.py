"""The rate buckets a send takes from are those of the provider it will go by: the first of its
medium's chain whose breaker lets a send through, as read in the batch's first round trip."""

from __future__ import annotations

from typing import Any, ClassVar

from channels.base import OutboundMessage, SendResult
from orchestrator.delivery.failover import View
from orchestrator.events import MESSAGE_SEND, new_event
from orchestrator.settings import Settings
from orchestrator.workers.dispatcher import _Send
from tests.unit.sends import bare_dispatcher, message_send


class Sms:
    channel: ClassVar[str] = "sms"
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, channel_type: str) -> None:
        self.channel_type = channel_type

    async def send(self, msg: OutboundMessage) -> SendResult:
        raise AssertionError("not called")


def _planned(views: dict[str, View]) -> str | None:
    twilio, vonage = Sms("sms.twilio"), Sms("sms.vonage")
    worker = bare_dispatcher(Settings(), {"sms": twilio})
    worker._chains = {"sms": (twilio, vonage)}  # type: ignore[dict-item]
    worker._breakers.views = views
    cmd = message_send(channel="sms", to="+15551230001")
    event = new_event(MESSAGE_SEND, cmd.message_id, "/test", cmd, customer_id=cmd.customer_id)
    none: Any = None
    return worker._planned(_Send(none, event, cmd, 1, {"provider": "sms.twilio"}))


def test_a_closed_first_provider_is_planned() -> None:
    assert _planned({}) == "sms.twilio"


def test_an_open_first_provider_plans_the_next_one() -> None:
    assert _planned({"sms.twilio": View("open", 0, 1)}) == "sms.vonage"


def test_every_breaker_open_plans_the_first() -> None:
    shut = View("open", 0, 1)
    assert _planned({"sms.twilio": shut, "sms.vonage": shut}) == "sms.twilio"
