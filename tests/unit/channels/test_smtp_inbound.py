"""``POST /_sandbox/smtp/inbound``: a customer's email posted as SendGrid's Inbound Parse, with
the threading headers a mail client writes, to a recording stand-in for the API."""

from __future__ import annotations

from email.parser import HeaderParser
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response

from channels.sandbox.config import SandboxConfig
from channels.sandbox.runtime import SandboxRuntime
from channels.sendgrid import parse_inbound
from channels.smtp.sandbox import InboundRequest, smtp_sandbox, thread_references

PARSE_URL = "http://api/webhooks/sendgrid/inbound"
Posts = list[tuple[dict[str, str], str]]
"""What the stand-in API received: each post's text fields and its Authorization header."""


def _api(posts: Posts) -> FastAPI:
    api = FastAPI()

    @api.post("/webhooks/sendgrid/inbound")
    async def inbound(request: Request) -> Response:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        posts.append((fields, request.headers.get("authorization", "")))
        return Response(status_code=200)

    return api


async def _simulate(body: dict[str, Any]) -> tuple[httpx.Response, Posts]:
    posts: Posts = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(_api(posts))) as to_api:
        runtime = SandboxRuntime(SandboxConfig(smtp_port=0), to_api)
        fake = FastAPI()
        fake.include_router(smtp_sandbox(runtime))
        transport = httpx.ASGITransport(fake)
        async with httpx.AsyncClient(transport=transport, base_url="http://sb") as client:
            resp = await client.post("/_sandbox/smtp/inbound", json=body)
    return resp, posts


async def test_a_reply_is_posted_as_inbound_parse_with_its_threading_headers() -> None:
    resp, posts = await _simulate(
        {
            "url": PARSE_URL,
            "from": "Ada <ada@example.com>",
            "to": "support@continuum.test",
            "subject": "Re: Message from Continuum",
            "body": "where is my order?",
            "in_reply_to": "<m1@continuum.test>",
            "references": "<conv-c1@continuum.test> <m1@continuum.test>",
        }
    )
    assert resp.status_code == 200
    assert resp.json()["status_code"] == 200
    [(fields, auth)] = posts
    assert auth.startswith("Basic ")  # the Inbound Parse URL's basic auth
    headers = HeaderParser().parsestr(fields["headers"], headersonly=True)
    assert headers["In-Reply-To"] == "<m1@continuum.test>"
    assert headers["References"] == "<conv-c1@continuum.test> <m1@continuum.test>"
    assert headers["Message-ID"] == resp.json()["id"]
    msg = parse_inbound(fields)  # what the API's route makes of it
    assert (msg.id, msg.sender, msg.recipient) == (
        resp.json()["id"],
        "ada@example.com",
        "support@continuum.test",
    )
    assert msg.text == "where is my order?"


async def test_an_email_that_replies_to_nothing_has_no_threading_headers() -> None:
    _, [(fields, _)] = await _simulate(
        {"url": PARSE_URL, "from": "ada@example.com", "to": "support@continuum.test", "text": "HI"}
    )
    headers = HeaderParser().parsestr(fields["headers"], headersonly=True)
    assert headers["In-Reply-To"] is None
    assert headers["References"] is None
    assert fields["text"] == "HI"


async def test_an_unreachable_url_is_a_502_with_the_reason() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(_refuse)) as to_api:
        fake = FastAPI()
        fake.include_router(smtp_sandbox(SandboxRuntime(SandboxConfig(smtp_port=0), to_api)))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(fake), base_url="http://sb"
        ) as client:
            body = {"url": PARSE_URL, "from": "a@example.com", "to": "b@example.com"}
            resp = await client.post("/_sandbox/smtp/inbound", json=body)
    assert resp.status_code == 502
    assert "refused" in resp.json()["error"]


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _reply(**extra: Any) -> InboundRequest:
    base = {"url": PARSE_URL, "from": "a@example.com", "to": "b@example.com"}
    return InboundRequest.model_validate({**base, **extra})


def test_references_default_to_the_parents_then_the_parent() -> None:
    known = {"<m2@x>": "<conv-c1@x>"}
    assert thread_references(_reply(in_reply_to="<m2@x>"), known) == "<conv-c1@x> <m2@x>"
    assert thread_references(_reply(in_reply_to="<m9@x>"), known) == "<m9@x>"  # unknown parent
    assert thread_references(_reply(in_reply_to="<m2@x>", references="<r@x>"), known) == "<r@x>"
    assert thread_references(_reply(), known) is None
