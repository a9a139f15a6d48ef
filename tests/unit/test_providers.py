"""The dispatcher's adapters come from the settings and the registry, in order per medium."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import httpx

from channels import PROVIDERS
from channels.base import OutboundMessage, SendResult
from channels.meta import MetaWhatsApp
from channels.sendgrid import SendGridEmail
from channels.twilio import TWILIO
from channels.twilio.adapter import TwilioSms
from channels.twilio.settings import TwilioConfig
from channels.webchat import WebchatMailbox
from orchestrator.media import MEDIA
from orchestrator.providers import build_adapters, enabled, primaries, status_callbacks
from orchestrator.settings import Settings
from orchestrator.workers.dispatcher import _Send
from tests.unit.sends import bare_dispatcher, message_send


class EchoSms:
    """A second SMS provider for these tests, configured by Twilio's section."""

    channel_type: ClassVar[str] = "sms.echo"
    channel: ClassVar[str] = "sms"
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: TwilioConfig, http: httpx.AsyncClient) -> None:
        self.config, self.http = config, http

    async def send(self, msg: OutboundMessage) -> SendResult:
        return SendResult(external_ids=(msg.message_id,))


ECHO = replace(TWILIO, name="echo", adapter=EchoSms, status_path=None)
REGISTRY = {**PROVIDERS, ECHO.channel_type: ECHO}


def _listing(sms: tuple[str, ...]) -> Settings:
    """Settings listing ``sms``; model_copy skips the check against the real registry."""
    settings = Settings()
    return settings.model_copy(update={"channels": {**settings.channels, "sms": sms}})


async def test_by_default_each_medium_but_webhook_has_its_sandbox_backed_provider() -> None:
    redis: Any = object()  # the service's client, handed only to needs_redis providers
    async with httpx.AsyncClient() as http:
        adapters = build_adapters(Settings(), http, redis=redis)
    assert set(adapters) == set(MEDIA)
    [twilio] = adapters["sms"]
    assert isinstance(twilio, TwilioSms)
    [webchat] = adapters["webchat"]
    assert isinstance(webchat, WebchatMailbox)
    assert webchat._redis is redis
    [meta] = adapters["whatsapp"]
    assert isinstance(meta, MetaWhatsApp)
    [sendgrid] = adapters["email"]
    assert isinstance(sendgrid, SendGridEmail)
    assert adapters["webhook"] == ()  # the generic webhook needs the business's URL
    assert set(primaries(adapters)) == {"sms", "whatsapp", "email", "webchat"}


async def test_two_providers_listed_for_one_medium_are_both_built_in_order() -> None:
    settings = _listing(("echo", "twilio"))
    async with httpx.AsyncClient() as http:
        adapters = build_adapters(settings, http, REGISTRY)
        first, second = adapters["sms"]
        assert isinstance(first, EchoSms)
        assert first.config is settings.twilio
        assert first.http is http
        assert isinstance(second, TwilioSms)
        assert primaries(adapters)["sms"] is first
        reversed_ = build_adapters(_listing(("twilio", "echo")), http, REGISTRY)["sms"]
        assert [type(a) for a in reversed_] == [TwilioSms, EchoSms]


def test_only_enabled_providers_with_a_status_path_get_callbacks() -> None:
    settings = Settings(api={"public_url": "https://api.example.com/"})
    assert status_callbacks(settings) == {
        "sms.twilio": "https://api.example.com/webhooks/twilio/status"
    }
    assert status_callbacks(_listing(("echo",)), REGISTRY) == {}
    assert status_callbacks(_listing(())) == {}
    assert enabled(_listing(("echo", "twilio")), REGISTRY)["sms"] == (ECHO, TWILIO)


async def test_a_send_on_the_webhook_medium_without_a_provider_is_no_adapter() -> None:
    settings = Settings()
    async with httpx.AsyncClient() as http:
        adapters = primaries(build_adapters(settings, http))
    worker = bare_dispatcher(settings, adapters, status_callbacks(settings))
    none: Any = None
    cmd = message_send(channel="webhook", to="partner-1")
    entry = {"state": "pending", "message_id": cmd.message_id, "provider": None}
    send = _Send(record=none, event=none, cmd=cmd, attempt=1, entry=entry)
    _, outcome, state = await worker._attempt(send)
    assert state == "rejected"
    assert outcome.entry is not None
    assert outcome.entry["code"] == "no_adapter"
