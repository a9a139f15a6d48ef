"""The generic webhook's far end as the sandbox serves it: the business endpoint Continuum posts
to (it checks the signature, records the message and posts a signed ``delivered`` status back),
and ``POST /_sandbox/generic/inbound``, a business posting a signed inbound message."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from channels.generic.signature import sign, verify
from channels.sandbox.injection import Answer, consult, queue_receipts
from channels.sandbox.runtime import SandboxRuntime
from channels.sandbox.store import SandboxMessage, new_sid

SANDBOX_SECRET = "whsec_c2FuZGJveC1nZW5lcmljLXdlYmhvb2sta2V5"  # noqa: S105 - the local sandbox's well-known secret
"""The secret the fake checks and signs with: the default of ``CONTINUUM_GENERIC__SECRET``."""

SEND_PATH = "/generic/messages"
"""Where the fake business endpoint listens (the default ``CONTINUUM_GENERIC__URL`` path)."""


class InboundRequest(BaseModel):
    """Body of ``POST /_sandbox/generic/inbound``."""

    url: str = Field(description="Continuum's /webhooks/generic/inbound URL")
    sender: str = Field(alias="from", description="the sender's opaque id")
    to: str = "continuum"
    text: str = ""


def signed_post(body: dict[str, Any], msg_id: str) -> tuple[bytes, dict[str, str]]:
    """``body`` as compact JSON and the Standard Webhooks headers signing it."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    stamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(SANDBOX_SECRET, msg_id, stamp, raw),
    }
    return raw, headers


class _Faults:
    """How the business endpoint fails (:class:`~channels.sandbox.injection.FaultShape`):
    ``{"error": ...}`` bodies, a 429 with ``Retry-After``, a 422 carrying ``code``."""

    provider = "generic"
    send_code = "rejected"
    receipt_code = "undeliverable"

    def error(self, status: int, message: str | None) -> Answer:
        return Answer(status, orjson.dumps({"error": message or "unavailable"}))

    def throttle(self, retry_after: int) -> Answer:
        body = orjson.dumps({"error": "rate limited"})
        return Answer(429, body, {"Retry-After": str(retry_after)})

    def rejected(self, code: str, message: str | None) -> Answer:
        return Answer(422, orjson.dumps({"error": message or "refused", "code": code}))


FAULTS = _Faults()


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generic_sandbox(runtime: SandboxRuntime) -> APIRouter:
    """The fake business endpoint and the inbound simulator."""
    router = APIRouter()

    @router.post(SEND_PATH)
    async def receive(request: Request) -> Response:
        raw = await request.body()
        h = request.headers
        msg_id = h.get("webhook-id", "")
        if not verify(
            SANDBOX_SECRET,
            msg_id,
            h.get("webhook-timestamp", ""),
            raw,
            h.get("webhook-signature", ""),
        ):
            return JSONResponse({"error": "bad signature"}, 401)
        try:
            event = json.loads(raw)
            data = event["data"]
            to, text = str(data["to"]), str(data["text"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "not a message.sent event"}, 400)
        status_url = data.get("status_url")
        plan = await consult(runtime, FAULTS, to=to, text=text)
        if plan.answer is not None:
            return plan.answer.response()
        message = SandboxMessage(
            msg_id,
            "generic",
            to,
            "continuum",
            text,
            datetime.now(UTC),
            status_callback=str(status_url) if status_url else None,
            provider="generic",
            channel="webhook",
        )
        runtime.store.add(message)
        if message.status_callback:
            await queue_receipts(
                runtime,
                plan,
                [lambda: _post_status(runtime, message, "delivered")],
                lambda code, _text: [lambda: _post_status(runtime, message, "failed", code)],
            )
        await plan.stall()
        return JSONResponse({"received": True})

    @router.post("/_sandbox/generic/inbound")
    async def simulate_inbound(inbound: InboundRequest) -> JSONResponse:
        msg_id = "msg_" + new_sid("in")
        event = {
            "type": "message.received",
            "timestamp": _iso_now(),
            "data": {"from": inbound.sender, "to": inbound.to, "text": inbound.text},
        }
        raw, headers = signed_post(event, msg_id)
        try:
            resp = await runtime.http.post(inbound.url, content=raw, headers=headers)
        except httpx.TransportError as exc:
            return JSONResponse({"id": msg_id, "error": str(exc)}, 502)
        return JSONResponse({"id": msg_id, "status_code": resp.status_code})

    return router


async def _post_status(
    runtime: SandboxRuntime, message: SandboxMessage, status: str, error_code: str | None = None
) -> None:
    """Post one signed ``message.status`` for ``message`` to its status URL."""
    if message.status_callback is None:
        return
    data = {"message_id": message.sid, "status": status}
    if error_code is not None:
        data["error_code"] = error_code
    event = {"type": "message.status", "timestamp": _iso_now(), "data": data}
    raw, headers = signed_post(event, "msg_" + new_sid("st"))
    resp = await runtime.http.post(message.status_callback, content=raw, headers=headers)
    message.status = status
    if resp.is_success:
        message.callbacks.append(status)
