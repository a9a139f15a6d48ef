"""Vonage's SMS API as the sandbox serves it: ``POST /sms/json``, signed delivery receipts and
an inbound-SMS simulator (``POST /_sandbox/vonage/inbound``), signed as Vonage signs them."""

from __future__ import annotations

import hmac
import logging
import random
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from channels.sandbox.injection import Answer, consult, queue_receipts
from channels.sandbox.runtime import SandboxRuntime
from channels.sandbox.store import SandboxMessage
from channels.vonage.signature import sign

logger = logging.getLogger(__name__)

SANDBOX_API_KEY = "sandboxkey"
"""The API key the fake accepts, and the default of ``CONTINUUM_VONAGE__API_KEY``."""
SANDBOX_API_SECRET = "sandbox-vonage-secret"  # noqa: S105 (the sandbox's, public)
"""The API secret the fake accepts, and the default of ``CONTINUUM_VONAGE__API_SECRET``."""
SANDBOX_SIGNATURE_SECRET = "sandbox-vonage-signature-secret"  # noqa: S105 (public)
"""The key the fake signs webhooks with (``CONTINUUM_VONAGE__SIGNATURE_SECRET``'s default)."""
DLR_SEQUENCE = ("accepted", "delivered")


class InboundRequest(BaseModel):
    """Body of ``POST /_sandbox/vonage/inbound``: where to post, and the SMS a phone sends."""

    model_config = ConfigDict(populate_by_name=True)

    url: str = Field(description="Continuum's Vonage inbound webhook URL")
    sender: str = Field(alias="from", description="the texting phone number")
    to: str = Field(description="the Continuum number texted")
    text: str = ""


def _signed(params: dict[str, str], secret: str) -> dict[str, str]:
    """``params`` with ``timestamp``, ``nonce`` and the SHA-256 HMAC ``sig`` Vonage adds."""
    out = {**params, "timestamp": str(int(time.time())), "nonce": str(uuid.uuid4())}
    out["sig"] = _sig(out, secret)
    return out


def _sig(params: dict[str, str], secret: str) -> str:
    """Vonage's signature of ``params``, upper-case hex as Vonage sends it."""
    return sign(secret, params).upper()


def _message_id() -> str:
    """A Vonage-style message id: 16 upper-case hex digits."""
    return f"{random.getrandbits(64):016X}"


def _error(code: str, text: str) -> JSONResponse:
    """Vonage answers errors with HTTP 200 and a non-zero ``messages[].status``."""
    return JSONResponse({"message-count": "1", "messages": [{"status": code, "error-text": text}]})


def _answer(status: int, code: str, text: str, headers: dict[str, str] | None = None) -> Answer:
    body = {"message-count": "1", "messages": [{"status": code, "error-text": text}]}
    return Answer(status, orjson.dumps(body), headers)


class _Faults:
    """How Vonage fails (:class:`~channels.sandbox.injection.FaultShape`): a refusal is HTTP
    200 with a non-zero ``messages[].status``; a 429 carries status 1 and ``Retry-After``."""

    provider = "vonage"
    send_code = "3"  # Invalid Parameters (an invalid `to`)
    receipt_code = "9"  # delivery receipt err-code: Illegal Number

    def error(self, status: int, message: str | None) -> Answer:
        return _answer(status, "5", message or "Internal Error")

    def throttle(self, retry_after: int) -> Answer:
        text = f"Throughput Rate Exceeded - please wait [ {retry_after * 1000} ] and retry"
        return _answer(429, "1", text, {"Retry-After": str(retry_after)})

    def rejected(self, code: str, message: str | None) -> Answer:
        return _answer(200, code, message or "Invalid to parameter")


FAULTS = _Faults()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


async def _fields(request: Request) -> dict[str, str]:
    """The send's parameters, from a form or JSON body and the query string."""
    if request.headers.get("content-type", "").startswith("application/json"):
        raw: Any = await request.json()
        fields = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    else:
        fields = {k: str(v) for k, v in (await request.form()).items()}
    fields.update(request.query_params)
    return fields


def _refusal(fields: dict[str, str]) -> JSONResponse | None:
    """Vonage's answer to a send with bad credentials or a missing field, or None."""
    if not fields.get("api_key") or not (fields.get("api_secret") or fields.get("sig")):
        return _error("2", "Missing api_key or api_secret")
    if fields.get("api_secret") and fields.get("sig"):
        return _error("32", "Signature and API secret disallowed")
    key_ok = _same(fields["api_key"], SANDBOX_API_KEY)
    if "sig" in fields:
        unsigned = {k: v for k, v in fields.items() if k != "sig"}
        want = _sig(unsigned, SANDBOX_SIGNATURE_SECRET)
        if not (_same(fields["sig"].upper(), want) and key_ok):
            return _error("14", "Invalid Signature")
    elif not (_same(fields["api_secret"], SANDBOX_API_SECRET) and key_ok):
        return _error("4", "Bad Credentials")
    for name in ("from", "to", "text"):
        if not fields.get(name):
            return _error("2", f"Missing {name} param")
    return None


def vonage_sandbox(runtime: SandboxRuntime) -> APIRouter:
    """The fake ``POST /sms/json`` and the inbound simulator."""
    router = APIRouter()

    async def post(url: str, params: dict[str, str]) -> httpx.Response:
        return await runtime.http.post(url, data=_signed(params, SANDBOX_SIGNATURE_SECRET))

    async def receipt(message: SandboxMessage, status: str, err_code: str = "0") -> None:
        message.status = status
        url = message.status_callback
        if not url:
            return
        now = datetime.now(UTC)
        params = {
            "msisdn": message.to,
            "to": message.sender,
            "network-code": "23410",
            "messageId": message.sid,
            "price": "0.03330000",
            "status": status,
            "scts": now.strftime("%y%m%d%H%M"),
            "err-code": err_code,
            "api-key": SANDBOX_API_KEY,
            "message-timestamp": now.strftime("%Y-%m-%d %H:%M:%S"),
            "client-ref": message.account_sid,
        }
        try:
            resp = await post(url, params)
        except httpx.TransportError as exc:
            logger.warning("vonage receipt to %s failed: %s", url, exc)
            return
        if resp.is_success:
            message.callbacks.append(status)

    @router.post("/sms/json")
    async def send(request: Request) -> Response:
        fields = await _fields(request)
        if (refused := _refusal(fields)) is not None:
            return refused
        plan = await consult(runtime, FAULTS, to=fields["to"], text=fields["text"])
        if plan.answer is not None:
            return plan.answer.response()
        message = SandboxMessage(
            sid=_message_id(),
            account_sid=fields.get("client-ref", ""),
            to=fields["to"],
            sender=fields["from"],
            body=fields["text"],
            created_at=datetime.now(UTC),
            status_callback=fields.get("callback") or None,
            provider="vonage",
            channel="sms",
            status="submitted",
        )
        runtime.store.add(message)
        await queue_receipts(
            runtime,
            plan,
            [partial(receipt, message, s) for s in DLR_SEQUENCE],
            lambda code, _text: [
                partial(receipt, message, "accepted"),
                partial(receipt, message, "failed", code),
            ],
        )
        part = {
            "to": message.to,
            "message-id": message.sid,
            "status": "0",
            "remaining-balance": "10.00000000",
            "message-price": "0.03330000",
            "network": "23410",
            "client-ref": message.account_sid,
        }
        await plan.stall()
        return JSONResponse({"message-count": "1", "messages": [part]})

    @router.post("/_sandbox/vonage/inbound")
    async def simulate_inbound(inbound: InboundRequest) -> JSONResponse:
        mid = _message_id()
        text = inbound.text
        params = {
            "msisdn": inbound.sender.lstrip("+"),
            "to": inbound.to.lstrip("+"),
            "messageId": mid,
            "text": text,
            "type": "unicode" if any(ord(c) > 127 for c in text) else "text",
            "keyword": (text.split() or [""])[0].upper(),
            "message-timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        }
        try:
            resp = await post(inbound.url, params)
        except httpx.TransportError as exc:
            return JSONResponse({"id": mid, "error": str(exc)}, 502)
        return JSONResponse({"id": mid, "status_code": resp.status_code})

    return router
