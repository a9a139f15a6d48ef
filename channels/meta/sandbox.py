"""Meta's WhatsApp Cloud API as the sandbox serves it: the messages endpoint
(``POST /{version}/{phone-number-id}/messages``) with bearer auth, signed status webhooks
(``sent`` → ``delivered`` → ``read``), and the simulators: ``POST /_sandbox/meta/webhook``
(the app dashboard's "callback URL": verified with the ``hub.challenge`` GET as Meta does,
then every status goes there) and ``POST /_sandbox/meta/inbound`` (a customer writing; the
URL it posts to also becomes the callback URL, since a Meta app has one webhook for messages
and statuses alike).

Two magic recipients, like Twilio's test numbers, for testing what follows a send:
:data:`UNDELIVERABLE` gets ``sent`` then ``failed`` with error 131026 (message undeliverable),
and :data:`SILENT` gets no status at all (a receipt that never comes)."""

from __future__ import annotations

import hmac
import json
import logging
import random
import secrets
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from channels.meta.signature import HEADER, sign
from channels.sandbox.injection import Answer, consult, queue_receipts
from channels.sandbox.runtime import SandboxRuntime
from channels.sandbox.store import SandboxMessage

logger = logging.getLogger(__name__)

SANDBOX_ACCESS_TOKEN = "sandbox-meta-access-token"  # noqa: S105 (the sandbox's, public)
"""The bearer token the fake accepts: the default of ``CONTINUUM_META__ACCESS_TOKEN``."""
SANDBOX_APP_SECRET = "sandbox-meta-app-secret"  # noqa: S105 (the sandbox's, public)
"""The app secret the fake signs webhooks with: ``CONTINUUM_META__APP_SECRET``'s default."""
SANDBOX_VERIFY_TOKEN = "sandbox-meta-verify-token"  # noqa: S105 (the sandbox's, public)
"""The token the fake's webhook verification sends: ``CONTINUUM_META__VERIFY_TOKEN``'s default."""
SANDBOX_PHONE_NUMBER_ID = "106540352242922"
"""The one business phone number id the fake knows (``CONTINUUM_META__PHONE_NUMBER_ID``)."""
SANDBOX_DISPLAY_NUMBER = "15550783881"
"""That number as customers see it (``metadata.display_phone_number`` of each webhook)."""
SANDBOX_WABA_ID = "102290129340398"
"""The WhatsApp Business Account id (``entry[].id`` of each webhook)."""
STATUS_SEQUENCE = ("sent", "delivered", "read")
UNDELIVERABLE = "15550131026"
"""A recipient the fake accepts and then fails: ``failed``, error 131026 (undeliverable)."""
SILENT = "15550000000"
"""A recipient the fake accepts and never posts a status for."""
UNDELIVERABLE_ERROR = {
    "code": 131026,
    "title": "Message undeliverable",
    "message": "Message undeliverable",
    "error_data": {"details": "Message Undeliverable."},
}
MESSAGE_TYPES = ("text", "template", "interactive")


class InboundRequest(BaseModel):
    """Body of ``POST /_sandbox/meta/inbound``: where to post, and what the customer wrote."""

    model_config = ConfigDict(populate_by_name=True)

    url: str = Field(description="Continuum's /webhooks/meta/whatsapp URL")
    sender: str = Field(alias="from", description="the customer's phone number (+ optional)")
    to: str = Field(SANDBOX_DISPLAY_NUMBER, description="the business number written to")
    text: str = ""
    name: str = Field("Sandbox Customer", description="the customer's WhatsApp profile name")


class WebhookRequest(BaseModel):
    """Body of ``POST /_sandbox/meta/webhook``: the app's callback URL, as in the dashboard."""

    url: str = Field(description="Continuum's /webhooks/meta/whatsapp URL")
    verify_token: str = Field(SANDBOX_VERIFY_TOKEN, description="sent as hub.verify_token")


def wamid() -> str:
    """A WhatsApp message id: ``wamid.`` and an opaque token."""
    return "wamid." + secrets.token_urlsafe(36)


def error_body(code: int, message: str, kind: str = "OAuthException", **extra: Any) -> Any:
    """Meta's Graph API error object."""
    err = {"message": message, "type": kind, "code": code, **extra}
    return {"error": {**err, "fbtrace_id": secrets.token_urlsafe(15)}}


def _error(status: int, code: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(code, message, **extra), status)


REJECTIONS = {
    "131026": "Message undeliverable",
    "131047": "Re-engagement message",
    "131049": "This message was not delivered to maintain healthy ecosystem engagement.",
    "131050": "User has stopped marketing messages from this business",
}
"""Titles of the refusals a ``reject`` fault may name (others get a generic title)."""


class _Faults:
    """How the Cloud API fails (:class:`~channels.sandbox.injection.FaultShape`): Graph
    ``{"error": {message, type, code, error_data, fbtrace_id}}`` bodies; 130429 when throttled."""

    provider = "meta"
    send_code = "131026"
    receipt_code = "131026"

    def error(self, status: int, message: str | None) -> Answer:
        if status >= 500:
            code = 131016 if status == 503 else 131000
            text = message or ("Service unavailable" if status == 503 else "Something went wrong")
        else:
            code, text = 100, message or "Invalid parameter"
        return Answer(status, orjson.dumps(error_body(code, f"(#{code}) {text}")))

    def throttle(self, retry_after: int) -> Answer:
        body = error_body(130429, "(#130429) Rate limit hit", error_subcode=2494055)
        return Answer(429, orjson.dumps(body), {"Retry-After": str(retry_after)})

    def rejected(self, code: str, message: str | None) -> Answer:
        title = message or REJECTIONS.get(code, "Message failed to send")
        details = {"messaging_product": "whatsapp", "details": title}
        number = int(code) if code.isdigit() else 131026
        body = error_body(number, f"(#{code}) {title}", error_data=details)
        return Answer(400, orjson.dumps(body))


FAULTS = _Faults()


def _param(name: str) -> JSONResponse:
    """Meta's answer to a missing or invalid parameter: HTTP 400, code 100."""
    return _error(400, 100, f"(#100) Param {name} is required", error_subcode=2494010)


def webhook_body(value: dict[str, Any], display: str = SANDBOX_DISPLAY_NUMBER) -> bytes:
    """One ``messages`` change of the business account, as Meta serialises it (non-ASCII
    escaped, compact), ready to sign."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display,
            "phone_number_id": SANDBOX_PHONE_NUMBER_ID,
        },
        **value,
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": SANDBOX_WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def signed_headers(body: bytes) -> dict[str, str]:
    """The headers Meta posts a webhook with."""
    return {"content-type": "application/json", HEADER: sign(SANDBOX_APP_SECRET, body)}


def readable(body: dict[str, Any]) -> str | None:
    """What the customer would read, for ``GET /_sandbox/messages``; None when incomplete."""
    kind = body.get("type", "text")
    part = body.get(kind)
    if not isinstance(part, dict):
        return None
    if kind == "text":
        text = part.get("body")
        return text if isinstance(text, str) and text else None
    if kind == "template":
        name, lang = part.get("name"), (part.get("language") or {}).get("code")
        if not name or not lang:
            return None
        params = [
            str(p.get("text", ""))
            for c in part.get("components") or []
            for p in c.get("parameters") or []
        ]
        return f"template {name} ({lang})" + (f": {', '.join(params)}" if params else "")
    text = (part.get("body") or {}).get("text")
    action = part.get("action") or {}
    if part.get("type") == "button":
        titles = [(b.get("reply") or {}).get("title", "") for b in action.get("buttons") or []]
    elif part.get("type") == "list":
        titles = [
            r.get("title", "") for s in action.get("sections") or [] for r in s.get("rows") or []
        ]
    else:
        return None
    return f"{text} [{' | '.join(titles)}]" if text and titles else None


def _refusal(auth: str, phone_number_id: str, body: Any) -> JSONResponse | None:
    """Meta's answer to a send with a bad token, an unknown number or a malformed body."""
    token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
    if not hmac.compare_digest(token.encode(), SANDBOX_ACCESS_TOKEN.encode()):
        return _error(401, 190, "Invalid OAuth access token - Cannot parse access token")
    if phone_number_id != SANDBOX_PHONE_NUMBER_ID:
        return _error(
            400,
            100,
            f"Unsupported post request. Object with ID '{phone_number_id}' does not exist",
            kind="GraphMethodException",
            error_subcode=33,
        )
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return _param("messaging_product")
    if not str(body.get("to") or "").lstrip("+").isdigit():
        return _param("to")
    kind = body.get("type", "text")
    if kind not in MESSAGE_TYPES:
        return _param(f"type must be one of {{{', '.join(MESSAGE_TYPES)}}}")
    if readable(body) is None:
        return _param(str(kind))
    return None


def meta_sandbox(runtime: SandboxRuntime) -> APIRouter:
    """The fake Cloud API send, and the webhook-configuration and inbound simulators."""
    router = APIRouter()
    app: dict[str, str] = {}  # the app's configured callback URL, as Meta's dashboard holds it
    if configured := runtime.config.console_webhooks.get("meta"):
        app["url"] = configured

    @router.post("/{version}/{phone_number_id}/messages")
    async def send(version: str, phone_number_id: str, request: Request) -> Response:
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        refused = _refusal(request.headers.get("authorization", ""), phone_number_id, body)
        if refused is not None:
            return refused
        to, kind = str(body["to"]), body.get("type", "text")
        text = readable(body) or ""
        plan = await consult(runtime, FAULTS, to=to, text=text)
        if plan.answer is not None:
            return plan.answer.response()
        digits = to.lstrip("+")
        message = SandboxMessage(
            sid=wamid(),
            account_sid=f"CONVERSATION_{random.getrandbits(64):016x}",
            to=digits,
            sender=SANDBOX_DISPLAY_NUMBER,
            body=text,
            created_at=datetime.now(UTC),
            status_callback=app.get("url"),
            provider="meta",
            channel="whatsapp",
            status="accepted",
        )
        runtime.store.add(message)
        sequence = {UNDELIVERABLE: ("sent", "failed"), SILENT: ()}.get(digits, STATUS_SEQUENCE)
        await queue_receipts(
            runtime,
            plan,
            [partial(_post_status, runtime, message, s) for s in sequence],
            lambda code, title: [partial(_post_failed, runtime, message, code, title)],
        )
        sent: dict[str, str] = {"id": message.sid}
        if kind == "template":
            sent["message_status"] = "accepted"
        await plan.stall()
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": digits}],
                "messages": [sent],
            }
        )

    @router.post("/_sandbox/meta/webhook")
    async def configure(hook: WebhookRequest) -> JSONResponse:
        """Set the callback URL once it answers Meta's verification request."""
        challenge = str(10**9 + secrets.randbelow(9 * 10**9))
        query = {
            "hub.mode": "subscribe",
            "hub.verify_token": hook.verify_token,
            "hub.challenge": challenge,
        }
        try:
            resp = await runtime.http.get(hook.url, params=query)
        except httpx.TransportError as exc:
            return JSONResponse({"verified": False, "error": str(exc)}, 502)
        verified = resp.status_code == 200 and resp.text == challenge
        if verified:
            app["url"] = hook.url
        return JSONResponse({"verified": verified, "status_code": resp.status_code})

    @router.post("/_sandbox/meta/inbound")
    async def simulate_inbound(inbound: InboundRequest) -> JSONResponse:
        mid = wamid()
        wa_id = inbound.sender.lstrip("+")
        value = {
            "contacts": [{"profile": {"name": inbound.name}, "wa_id": wa_id}],
            "messages": [
                {
                    "from": wa_id,
                    "id": mid,
                    "timestamp": str(int(time.time())),
                    "type": "text",
                    "text": {"body": inbound.text},
                }
            ],
        }
        app["url"] = inbound.url
        try:
            resp = await _post(runtime, inbound.url, value, inbound.to.lstrip("+"))
        except httpx.TransportError as exc:
            return JSONResponse({"id": mid, "error": str(exc)}, 502)
        return JSONResponse({"id": mid, "status_code": resp.status_code})

    return router


async def _post(
    runtime: SandboxRuntime, url: str, value: dict[str, Any], display: str = SANDBOX_DISPLAY_NUMBER
) -> httpx.Response:
    """Post one signed webhook of ``value`` to ``url``."""
    body = webhook_body(value, display)
    return await runtime.http.post(url, content=body, headers=signed_headers(body))


async def _post_failed(
    runtime: SandboxRuntime, message: SandboxMessage, code: str, title: str | None
) -> None:
    """Post the ``failed`` status of a message Meta could not deliver, with its error."""
    title = title or REJECTIONS.get(code, "Message failed to send")
    error = {
        "code": int(code) if code.isdigit() else code,
        "title": title,
        "message": title,
        "error_data": {"details": title},
    }
    await _post_status(runtime, message, "failed", [error])


async def _post_status(
    runtime: SandboxRuntime,
    message: SandboxMessage,
    state: str,
    errors: list[dict[str, Any]] | None = None,
) -> None:
    """Post one signed status webhook for ``message`` to the app's callback URL."""
    message.status = state
    url = message.status_callback
    if not url:
        return
    entry: dict[str, Any] = {
        "id": message.sid,
        "status": state,
        "timestamp": str(int(time.time())),
        "recipient_id": message.to,
        "conversation": {"id": message.account_sid, "origin": {"type": "service"}},
        "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
        **({"errors": errors} if errors else {}),
    }
    if state == "failed" and not errors:  # the magic UNDELIVERABLE recipient's failure
        entry["errors"] = [UNDELIVERABLE_ERROR]
    try:
        resp = await _post(runtime, url, {"statuses": [entry]})
    except httpx.TransportError as exc:
        logger.warning("meta status webhook to %s failed: %s", url, exc)
        return
    if resp.is_success:
        message.callbacks.append(state)
