"""Vonage's webhooks on their own: parameters from query, form or JSON, signature, replay window,
the receipt's status mapping, and 400 for a signed request missing what it must carry."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from channels.vonage import INBOUND_PATH, STATUS_PATH, VonageSettings, sign, vonage_webhooks
from tests.unit.channels.recording import RecordingContext

SECRET = "unit-signature-secret"


@pytest.fixture
def ctx() -> RecordingContext:
    return RecordingContext()


@pytest.fixture
async def client(ctx: RecordingContext) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(vonage_webhooks(VonageSettings(signature_secret=SECRET), ctx))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        yield http


def signed(params: dict[str, str], secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    out = {**params, "timestamp": str(int(time.time() if at is None else at)), "nonce": "n-1"}
    return {**out, "sig": sign(secret, out).upper()}


INBOUND = {"msisdn": "447700900001", "to": "447700900000", "messageId": "0A1", "text": "a=b & c"}


async def test_inbound_as_form_json_or_query(
    client: httpx.AsyncClient, ctx: RecordingContext
) -> None:
    params = signed(INBOUND)
    answers = [
        await client.post(INBOUND_PATH, data=params),
        await client.post(INBOUND_PATH, json=params),
        await client.get(INBOUND_PATH, params=params),
    ]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert {(m.id, m.sender, m.recipient, m.text) for m in ctx.inbound} == {
        ("0A1", "+447700900001", "+447700900000", "a=b & c")
    }
    assert len(ctx.inbound) == 3


@pytest.mark.parametrize(
    ("status", "mapped"),
    [
        ("accepted", "sent"),
        ("buffered", "sent"),
        ("delivered", "delivered"),
        ("expired", "undelivered"),
        ("failed", "failed"),
        ("rejected", "failed"),
        ("unknown", "unknown"),
        ("teleported", "unknown"),
    ],
)
async def test_receipt_statuses_map(
    client: httpx.AsyncClient, ctx: RecordingContext, status: str, mapped: str
) -> None:
    err = "0" if status != "failed" else "6"
    params = signed(
        {"messageId": "0A1", "msisdn": "447700900001", "status": status, "err-code": err}
    )
    assert (await client.post(STATUS_PATH, data=params)).status_code == 200
    [report] = ctx.reports
    assert (report.external_id, report.status, report.provider_status) == ("0A1", mapped, status)
    assert report.error_code == (None if err == "0" else "6")


async def test_refusals(client: httpx.AsyncClient, ctx: RecordingContext) -> None:
    stale = signed(INBOUND, at=time.time() - 400)  # well outside: the stamp is whole seconds
    future = signed(INBOUND, at=time.time() + 400)
    forged = signed(INBOUND, secret="other")
    tampered = {**signed(INBOUND), "text": "HELO"}
    answers = [await client.post(INBOUND_PATH, data=p) for p in (stale, future, forged, tampered)]
    assert [r.status_code for r in answers] == [403, 403, 403, 403]
    missing = await client.post(INBOUND_PATH, data=signed({"text": "hi"}))
    assert missing.status_code == 400
    assert "messageId" in missing.json()["detail"]
    not_json = await client.post(
        STATUS_PATH, content=b"[1]", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert ctx.inbound == []
    assert ctx.reports == []
    assert ctx.counts == [
        ("vonage_inbound", "replay"),
        ("vonage_inbound", "replay"),
        ("vonage_inbound", "bad_signature"),
        ("vonage_inbound", "bad_signature"),
        ("vonage_inbound", "invalid"),
        ("vonage_status", "invalid"),
    ]
