"""``GET /_sandbox/messages``: one listing of every provider's messages, with common keys and
exact-match filters on ``provider``, ``channel`` and ``to``."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import SecretStr
from sandbox_harness import Sandbox

from channels.base import OutboundMessage
from channels.generic import GenericSettings, GenericWebhook
from channels.generic.sandbox import SEND_PATH
from channels.sandbox.fast import SandboxApp
from channels.sandbox.store import SandboxMessage
from channels.twilio.adapter import TwilioSms
from channels.twilio.settings import TwilioConfig
from channels.vonage import VonageSettings, VonageSms

COMMON_KEYS = {"id", "provider", "channel", "to", "from", "body", "status", "callbacks"}
LEGACY_KEYS = {"sid", "media_urls", "status_callback", "received_at", "created_at"}


async def _send_one_of_each(sandbox: Sandbox) -> None:
    """A Twilio SMS, a Vonage SMS (both to +15550001) and a generic webhook message."""
    sid, token = sandbox.auth
    twilio = TwilioConfig(
        account_sid=sid, auth_token=SecretStr(token), base_url="http://sandbox", from_number="+1"
    )
    client = sandbox.client
    await TwilioSms(twilio, client).send(OutboundMessage("m-1", "+15550001", "by twilio"))
    vonage = VonageSettings(base_url="http://sandbox")
    await VonageSms(vonage, client).send(OutboundMessage("m-2", "+15550001", "by vonage"))
    generic = GenericSettings(url=f"http://sandbox{SEND_PATH}")
    await GenericWebhook(generic, client).send(OutboundMessage("m-3", "crm-7", "by generic"))


async def _list(sandbox: Sandbox, **params: str) -> list[dict[str, object]]:
    resp = await sandbox.client.get("/_sandbox/messages", params=params)
    assert resp.status_code == 200, resp.text
    listed: list[dict[str, object]] = resp.json()
    return listed


async def test_every_provider_is_listed_in_order_with_the_common_keys(sandbox: Sandbox) -> None:
    await _send_one_of_each(sandbox)
    listed = await _list(sandbox)
    assert [(m["provider"], m["channel"], m["body"]) for m in listed] == [
        ("twilio", "sms", "by twilio"),
        ("vonage", "sms", "by vonage"),
        ("generic", "webhook", "by generic"),
    ]
    for item in listed:
        assert item.keys() >= COMMON_KEYS | LEGACY_KEYS
        assert item["id"] == item["sid"]
        assert isinstance(item["callbacks"], list)
        assert datetime.fromisoformat(str(item["created_at"])).tzinfo is not None
    assert [m["to"] for m in listed] == ["+15550001", "15550001", "crm-7"]


@pytest.mark.parametrize(
    ("params", "bodies"),
    [
        ({"provider": "vonage"}, ["by vonage"]),
        ({"channel": "sms"}, ["by twilio", "by vonage"]),
        ({"channel": "webhook"}, ["by generic"]),
        ({"to": "+15550001"}, ["by twilio"]),
        ({"to": "crm-7"}, ["by generic"]),
        ({"channel": "sms", "provider": "twilio", "to": "+15550001"}, ["by twilio"]),
        ({"channel": "webhook", "provider": "twilio"}, []),
        ({"provider": "nope"}, []),
        ({"channel": "email"}, []),
        ({"to": " +15550001"}, []),
    ],
    ids=[
        "provider",
        "channel-sms",
        "channel-webhook",
        "to-exact",
        "to-other",
        "all-three",
        "combined-disjoint",
        "unknown-provider",
        "unknown-channel",
        "to-not-normalised",
    ],
)
async def test_filters_match_exactly_and_combine(
    sandbox: Sandbox, params: dict[str, str], bodies: list[str]
) -> None:
    await _send_one_of_each(sandbox)
    assert [m["body"] for m in await _list(sandbox, **params)] == bodies


async def test_an_unknown_query_parameter_is_a_400_naming_it(sandbox: Sandbox) -> None:
    await _send_one_of_each(sandbox)
    resp = await sandbox.client.get("/_sandbox/messages", params={"provder": "twilio"})
    assert resp.status_code == 400
    assert resp.json() == {
        "error": "unknown query parameter provder (known: provider, channel, to)"
    }


def test_sandbox_message_keeps_its_old_constructor_and_defaults_to_sms() -> None:
    at = datetime.now().astimezone()
    old = SandboxMessage("id-1", "acct", "+1", "+2", "hi", at, provider="other")
    assert (old.channel, old.summary()["channel"], old.summary()["id"]) == ("sms", "sms", "id-1")
    new = SandboxMessage("id-2", "acct", "a", "b", "hi", at, provider="x", channel="email")
    assert new.summary()["channel"] == "email"


async def test_the_fast_app_serves_every_provider_not_only_twilio(sandbox: Sandbox) -> None:
    """``SandboxApp`` (fast.py) shortcuts only Twilio's Messages.json; the others still answer."""
    assert isinstance(sandbox.app, SandboxApp)
    await _send_one_of_each(sandbox)  # raises on any refusal
    assert {m["provider"] for m in await _list(sandbox)} == {"twilio", "vonage", "generic"}
