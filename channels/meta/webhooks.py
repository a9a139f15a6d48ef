"""``GET`` and ``POST /webhooks/meta/whatsapp``: the subscription check and the signed webhook.

The GET is Meta's verification of the callback URL (``hub.mode=subscribe``,
``hub.verify_token``, ``hub.challenge``): answered 200 with the challenge as plain text only
when the token matches, 403 otherwise. Each POST is one batch of changes of the business
account, signed with the app secret (``X-Hub-Signature-256``); it may hold several messages
and statuses: each is published, and the POST is answered 200 only once the broker has
acknowledged all of them (else the context's 503, and Meta retries the whole batch: the
inbound dedupe on the message ``id`` makes the redelivered messages harmless, and a repeated
status is a no-op of the status state machine).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response

from channels.meta.settings import MetaSettings
from channels.meta.signature import HEADER, verify
from channels.webhooks import (
    UNAVAILABLE,
    InboundMessage,
    StatusReport,
    WebhookContext,
    e164,
    error,
)

WEBHOOK_PATH = "/webhooks/meta/whatsapp"

STATUS_MAP: Mapping[str, str] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}
"""Cloud API ``statuses[].status`` → Continuum status; anything else is ``unknown``."""

OPT_OUT_ERRORS: Mapping[str, str] = {"131050": "marketing"}
"""Status error codes that mean the recipient opted out, and of which purpose: 131050, "the
user has stopped marketing messages from the business" (their other messages still go)."""

MEDIA_TYPES = ("image", "video", "document", "audio", "sticker")
"""Inbound message types whose text is the (optional) caption."""


def message_text(message: Mapping[str, Any]) -> str | None:
    """What an inbound message says: its body, the title of the reply button or list row
    chosen, a quick-reply button's text, a media caption; None for types that say nothing
    (reactions, locations, system and unsupported messages)."""
    kind = message.get("type")
    part = message.get(kind) if isinstance(kind, str) else None
    if not isinstance(part, dict):
        return None
    if kind == "text":
        return str(part.get("body", ""))
    if kind == "interactive":
        reply = part.get(str(part.get("type")))  # button_reply or list_reply
        return str(reply.get("title", "")) if isinstance(reply, dict) else None
    if kind == "button":
        return str(part.get("text", ""))
    if kind in MEDIA_TYPES:
        return str(part.get("caption", ""))
    return None


def parse(payload: Any) -> tuple[list[InboundMessage], list[StatusReport]]:
    """The messages and statuses of a webhook body; ValueError says what is malformed."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise ValueError("the body is not a whatsapp_business_account webhook")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise ValueError("entry is not a list")
    inbound: list[InboundMessage] = []
    reports: list[StatusReport] = []
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue
            meta = value.get("metadata") or {}
            ours = str(meta.get("display_phone_number") or meta.get("phone_number_id") or "")
            for message in value.get("messages") or []:
                if not isinstance(message, dict) or not message.get("id"):
                    raise ValueError("a message has no id")
                if not message.get("from"):
                    raise ValueError("a message has no from")
                text = message_text(message)
                if text is None:
                    continue
                sender = e164(str(message["from"]))
                recipient = e164(ours) if ours else "whatsapp"
                inbound.append(InboundMessage(str(message["id"]), sender, recipient, text))
            for status in value.get("statuses") or []:
                if not isinstance(status, dict) or not status.get("id") or not status.get("status"):
                    raise ValueError("a status has no id or status")
                raw = str(status["status"])
                errors = status.get("errors")
                first = errors[0] if isinstance(errors, list) and errors else None
                first = first if isinstance(first, dict) else {}
                code = first.get("code")
                purpose = OPT_OUT_ERRORS.get(str(code))
                reports.append(
                    StatusReport(
                        str(status["id"]),
                        STATUS_MAP.get(raw, "unknown"),
                        raw,
                        error_code=str(code) if code is not None else None,
                        error_message=str(first.get("title") or first.get("message") or "") or None,
                        opted_out=purpose is not None,
                        opt_out_purpose=purpose,
                    )
                )
    return inbound, reports


def meta_webhooks(config: MetaSettings, ctx: WebhookContext) -> APIRouter:
    """The verification GET and the signed POST of ``/webhooks/meta/whatsapp``."""
    router = APIRouter()
    secret = config.app_secret.get_secret_value()
    token = config.verify_token.get_secret_value()

    @router.get(
        WEBHOOK_PATH,
        response_class=PlainTextResponse,
        responses={
            200: {"description": "hub.challenge, echoed", "content": {"text/plain": {}}},
            403: error("hub.mode is not subscribe or hub.verify_token does not match"),
        },
    )
    async def verification(request: Request) -> PlainTextResponse:
        """Meta's check of the callback URL: echo ``hub.challenge`` when the token matches."""
        q = request.query_params
        given, challenge = q.get("hub.verify_token", ""), q.get("hub.challenge")
        if (
            q.get("hub.mode") != "subscribe"
            or not token
            or challenge is None
            or not hmac.compare_digest(given.encode(), token.encode())
        ):
            ctx.count("meta_verify", "bad_token")
            raise HTTPException(403, "hub.mode is not subscribe or hub.verify_token is wrong")
        ctx.count("meta_verify", "accepted")
        return PlainTextResponse(challenge)

    @router.post(
        WEBHOOK_PATH,
        responses={
            400: error("not a whatsapp_business_account webhook, or a message lacks id/from"),
            403: error(f"{HEADER} is missing, not sha256=, or does not match the body"),
            503: UNAVAILABLE,
        },
    )
    async def webhook(request: Request) -> Response:
        """Messages and statuses: answered 200 once the broker has acknowledged every one."""
        body = await request.body()
        if not verify(secret, body, request.headers.get(HEADER)):
            ctx.count("meta_webhook", "bad_signature")
            raise HTTPException(403, f"{HEADER} is missing or does not match")
        try:
            inbound, reports = parse(json.loads(body))
        except ValueError as exc:  # JSONDecodeError is a ValueError
            ctx.count("meta_webhook", "invalid")
            raise HTTPException(400, str(exc)) from None
        for msg in inbound:
            await ctx.received("meta_inbound", msg)
            ctx.count("meta_inbound", "accepted")
        for report in reports:
            await ctx.status("meta_status", report)
            ctx.count("meta_status", "accepted")
        ctx.count("meta_webhook", "accepted")
        return Response(status_code=200)

    return router
