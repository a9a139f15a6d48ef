"""SendGrid's Email Activity API, asked about a send whose outcome is unknown: the adapter
against the sandbox fake's ``GET /v3/messages``, the query it builds, and its errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sandbox_harness import Sandbox

from channels.base import OutboundMessage, Reconcilable
from channels.errors import (
    ChannelConfigInvalid,
    ConnectionFailed,
    OutcomeUnknown,
    RejectedWithReason,
    ResponseStatus,
    ResponseUnparseable,
    SendError,
    Throttled,
)
from channels.sendgrid import SendGridEmail, SendGridSettings
from channels.sendgrid.sandbox import SANDBOX_API_KEY
from channels.sendgrid.sandbox_activity import parse_query
from orchestrator.delivery.reconcile import match

BEARER = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}
SINCE = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _adapter(http: httpx.AsyncClient) -> SendGridEmail:
    return SendGridEmail(SendGridSettings(base_url="http://sandbox"), http)


async def test_the_adapter_can_be_asked_and_finds_what_the_sandbox_accepted(
    sandbox: Sandbox,
) -> None:
    adapter = _adapter(sandbox.client)
    assert isinstance(adapter, Reconcilable)
    since = datetime.now(UTC)
    sent = await adapter.send(OutboundMessage("m1", "ann@example.org", "Your code is 42"))
    await adapter.send(OutboundMessage("m2", "ann@example.org", "Your code is 42"))
    await adapter.send(OutboundMessage("m1x", "bob@example.org", "Your code is 42"))
    until = datetime.now(UTC)
    msg = OutboundMessage("m1", "ann@example.org", "Your code is 42")
    [found] = await adapter.find_sent(msg, since, until)
    assert (found.external_id, found.marker, found.to) == (
        sent.external_ids[0],
        "m1",
        "ann@example.org",
    )
    assert found.status in ("sent", "delivered")
    assert found.created_at is not None
    assert since - timedelta(seconds=1) <= found.created_at <= until
    verdict = match("m1", msg.to, msg.text, since, until, [found])
    assert verdict.found is not None
    assert verdict.found.external_id == sent.external_ids[0]  # the X-Message-Id receipts carry


async def test_a_message_the_sandbox_never_got_is_not_found(sandbox: Sandbox) -> None:
    adapter = _adapter(sandbox.client)
    await adapter.send(OutboundMessage("other", "ann@example.org", "Hi"))
    msg = OutboundMessage("m1", "ann@example.org", "Hi")
    found = await adapter.find_sent(msg, SINCE, SINCE)
    assert found == []
    assert match("m1", msg.to, msg.text, SINCE, SINCE, found).result == "not_found"


async def test_the_sandbox_lists_by_query_and_refuses_what_it_cannot_parse(
    sandbox: Sandbox,
) -> None:
    client = sandbox.client
    await _adapter(client).send(OutboundMessage("m1", "ann@example.org", "Hi", subject="S"))
    query = '(unique_args[\'continuum_message_id\']="m1") AND to_email="ann@example.org"'
    resp = await client.get("/v3/messages", params={"query": query}, headers=BEARER)
    [listed] = resp.json()["messages"]
    assert set(listed) == {
        "from_email",
        "msg_id",
        "subject",
        "to_email",
        "status",
        "opens_count",
        "clicks_count",
        "last_event_time",
    }
    assert (listed["to_email"], listed["subject"]) == ("ann@example.org", "S")
    elsewhere = 'to_email="bob@example.org"'
    resp = await client.get("/v3/messages", params={"query": elsewhere}, headers=BEARER)
    assert resp.json() == {"messages": []}
    for bad in ("subject LIKE 'x%'", 'to_email="a" OR to_email="b"', 'to_email="a" AND'):
        resp = await client.get("/v3/messages", params={"query": bad}, headers=BEARER)
        assert resp.status_code == 400, bad
        assert resp.json()["errors"][0]["field"] == "query"
    resp = await client.get("/v3/messages", params={"limit": "0"}, headers=BEARER)
    assert resp.status_code == 400
    resp = await client.get("/v3/messages")
    assert resp.status_code == 401
    assert "errors" in resp.json()


def test_the_query_parser_is_strict() -> None:
    assert parse_query('unique_args[\'k\']="v" AND (to_email = "a@b.c")') == [
        ("arg:k", "v"),
        ("to_email", "a@b.c"),
    ]
    assert parse_query('(to_email="a@b.c"') is None  # unbalanced
    assert parse_query('to_email="a@b.c" ANDto_email="x"') is None
    assert parse_query('unique_args[k]="v"') is None


def _recorded(answer: httpx.Response) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return seen, httpx.MockTransport(handler)


async def test_the_request_names_our_id_and_the_address_and_maps_the_answer() -> None:
    page = {
        "messages": [
            {
                "from_email": "continuum@sandbox.example",
                "msg_id": "Xm1d.filterdrecv-p3las1-5bf99c48d-dtmts-20-5C4A7A2E-1B.0",
                "subject": "Hello",
                "to_email": "Ann@Example.org",
                "status": "not_delivered",
                "opens_count": 0,
                "clicks_count": 0,
                "last_event_time": "2026-12-01T08:00:03Z",
            },
            {"msg_id": "Other.x", "to_email": "bob@example.org", "status": "delivered"},
            {"msg_id": "Late.y", "to_email": "ann@example.org", "last_event_time": "yesterday"},
            {"msg_id": ".z", "to_email": "ann@example.org"},
            "garbage",
        ]
    }
    seen, transport = _recorded(httpx.Response(200, json=page))
    async with httpx.AsyncClient(transport=transport) as http:
        msg = OutboundMessage("msg_7", "ann@example.org", "Hi")
        found = await _adapter(http).find_sent(msg, SINCE, SINCE)
    [request] = seen
    assert (request.method, request.url.path) == ("GET", "/v3/messages")
    assert request.headers["Authorization"] == f"Bearer {SANDBOX_API_KEY}"
    assert request.url.params["limit"] == "10"
    assert request.url.params["query"] == (
        'unique_args[\'continuum_message_id\']="msg_7" AND to_email="ann@example.org"'
    )
    assert [(f.external_id, f.status, f.marker, f.text) for f in found] == [
        ("Xm1d", "undelivered", "msg_7", None),
        ("Late", "unknown", "msg_7", None),
    ]
    assert found[1].created_at is None
    assert found[0].created_at == datetime(2026, 12, 1, 8, 0, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param(httpx.Response(503, json={}), ConnectionFailed, id="5xx-retryable"),
        pytest.param(
            httpx.Response(429, json={}, headers={"Retry-After": "10"}), Throttled, id="429"
        ),
        pytest.param(
            httpx.Response(403, json={"errors": [{"message": "access forbidden"}]}),
            ChannelConfigInvalid,
            id="403-no-add-on",
        ),
        pytest.param(httpx.Response(401, json={}), ChannelConfigInvalid, id="401-bad-key"),
        pytest.param(
            httpx.Response(400, json={"errors": [{"message": "invalid query", "field": "q"}]}),
            RejectedWithReason,
            id="400-query-refused",
        ),
        pytest.param(httpx.Response(405, json={}), ResponseStatus, id="4xx-permanent"),
        pytest.param(httpx.Response(400, text="Bad Request"), ResponseStatus, id="400-no-body"),
        pytest.param(httpx.Response(200, json={"no": "messages"}), ResponseUnparseable, id="shape"),
        pytest.param(httpx.Response(200, text="<html>"), ResponseUnparseable, id="not-json"),
    ],
)
async def test_provider_errors_are_typed(answer: httpx.Response, error: type[SendError]) -> None:
    _, transport = _recorded(answer)
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(SendError) as raised:
            await _adapter(http).find_sent(OutboundMessage("m1", "a@b.org", "Hi"), SINCE, SINCE)
    assert type(raised.value) is error
    if error is ChannelConfigInvalid:
        assert "add-on" in str(raised.value)
    if error is Throttled:
        assert raised.value.retry_after == 10  # type: ignore[attr-defined]


async def test_a_404_is_an_empty_list() -> None:
    _, transport = _recorded(httpx.Response(404, json={"errors": [{"message": "not found"}]}))
    async with httpx.AsyncClient(transport=transport) as http:
        found = await _adapter(http).find_sent(OutboundMessage("m1", "a@b.org", "Hi"), SINCE, SINCE)
    assert found == []


@pytest.mark.parametrize(
    ("exc", "error"),
    [(httpx.ConnectError("refused"), ConnectionFailed), (httpx.ReadTimeout("t"), OutcomeUnknown)],
)
async def test_transport_failures_are_translated(
    exc: httpx.TransportError, error: type[SendError]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(error):
            await _adapter(http).find_sent(OutboundMessage("m1", "a@b.org", "Hi"), SINCE, SINCE)


async def test_an_address_the_query_cannot_quote_is_left_out_and_an_empty_key_refused() -> None:
    seen, transport = _recorded(httpx.Response(200, json={"messages": []}))
    async with httpx.AsyncClient(transport=transport) as http:
        await _adapter(http).find_sent(OutboundMessage("m1", '"odd"@b.org', "Hi"), SINCE, SINCE)
        assert seen[0].url.params["query"] == "unique_args['continuum_message_id']=\"m1\""
        with pytest.raises(ChannelConfigInvalid):
            await _adapter(http).find_sent(OutboundMessage('m"1', "a@b.org", "Hi"), SINCE, SINCE)
        keyless = SendGridEmail(SendGridSettings(api_key=SecretStr("")), http)
        with pytest.raises(ChannelConfigInvalid):
            await keyless.find_sent(OutboundMessage("m1", "a@b.org", "Hi"), SINCE, SINCE)
    assert len(seen) == 1
