"""Twilio's list of messages, asked about a send whose outcome is unknown: the adapter against
the sandbox fake's ``GET Messages.json``, and the list's shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from pydantic import SecretStr
from sandbox_harness import Sandbox

from channels.base import OutboundMessage, Reconcilable
from channels.twilio.adapter import TwilioSms
from channels.twilio.settings import TwilioConfig
from orchestrator.delivery.reconcile import match


def _adapter(sandbox: Sandbox) -> TwilioSms:
    sid, token = sandbox.auth
    config = TwilioConfig(
        account_sid=sid,
        auth_token=SecretStr(token),
        base_url="http://sandbox",
        from_number="+15559999",
    )
    return TwilioSms(config, sandbox.client)


async def test_the_adapter_can_be_asked_and_finds_what_the_sandbox_accepted(
    sandbox: Sandbox,
) -> None:
    adapter = _adapter(sandbox)
    assert isinstance(adapter, Reconcilable)
    since = datetime.now(UTC)
    sent = await adapter.send(OutboundMessage("m1", "+15550001", "Your code is 42"))
    await adapter.send(OutboundMessage("m2", "+15550001", "Something else"))
    await adapter.send(OutboundMessage("m3", "+15550002", "Your code is 42"))
    until = datetime.now(UTC)
    msg = OutboundMessage("m1", "+15550001", "Your code is 42")
    found = await adapter.find_sent(msg, since, until)
    assert sorted(f.text or "" for f in found) == ["Something else", "Your code is 42"]
    assert all(f.to == "+15550001" and f.created_at is not None for f in found)
    verdict = match("m1", msg.to, msg.text, since, until, found)
    assert verdict.found is not None
    assert verdict.found.external_id == sent.external_ids[0]


async def test_a_message_the_sandbox_never_got_is_not_found(sandbox: Sandbox) -> None:
    adapter = _adapter(sandbox)
    since = datetime.now(UTC)
    msg = OutboundMessage("m1", "+15550001", "never sent")
    found = await adapter.find_sent(msg, since, since + timedelta(seconds=1))
    assert match("m1", msg.to, msg.text, since, since, found).result == "not_found"


async def test_the_list_is_asked_by_recipient_sender_and_day_and_inbound_is_skipped() -> None:
    seen: list[httpx.Request] = []
    page = {
        "messages": [
            {
                "sid": "SM1",
                "direction": "outbound-api",
                "to": "+15550001",
                "body": "Hi",
                "status": "delivered",
                "date_created": "Tue, 01 Dec 2026 08:00:03 +0000",
            },
            {
                "sid": "SM2",
                "direction": "inbound",
                "to": "+15559999",
                "body": "Hi",
                "status": "received",
                "date_created": "Tue, 01 Dec 2026 08:00:04 +0000",
            },
        ]
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=page)

    config = TwilioConfig(account_sid="AC1", auth_token=SecretStr("t"), from_number="+15559999")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        since = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
        found = await TwilioSms(config, http).find_sent(
            OutboundMessage("m1", "+15550001", "Hi"), since, since
        )
    assert [(f.external_id, f.status) for f in found] == [("SM1", "delivered")]
    assert found[0].created_at == datetime(2026, 12, 1, 8, 0, 3, tzinfo=UTC)
    params = seen[0].url.params
    assert (params["To"], params["From"], params["DateSent>"]) == (
        "+15550001",
        "+15559999",
        "2026-12-01",
    )
    assert seen[0].method == "GET"
