"""Twilio's webhooks: delivery status callbacks and inbound SMS, both signature-checked.

Each answers 2xx only once the broker has stored its event: the :class:`WebhookContext` the API
passes in publishes and waits, bounded by ``api.publish_timeout_s`` (5 s); past it, or when the
broker refuses, the answer is 503 with ``Retry-After`` and
``continuum_webhook_total{outcome="publish_timeout"|"publish_error"}`` counts it, so the caller
retries (Twilio retries inbound messages, not status callbacks) instead of hanging until its
own 15 s limit.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from channels.twilio.adapter import parse_inbound, parse_status_callback
from channels.twilio.settings import TwilioConfig
from channels.twilio.signature import validate_signature
from channels.webhooks import UNAVAILABLE, InboundMessage, WebhookContext, error, form_body

STATUS_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/inbound"
_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

_BAD_SIGNATURE = error("X-Twilio-Signature is missing or does not match")


class _Form(BaseModel):
    model_config = ConfigDict(extra="allow")


class TwilioStatusForm(_Form):
    """Twilio's message status callback (any further Twilio fields are signed and ignored).

    The routes read their forms by hand (the signature covers every field, repeated ones
    included), so the form models only describe the body in the OpenAPI document.
    """

    MessageSid: str = Field(description="Twilio's message id (SM...)")
    MessageStatus: str = Field(
        description="accepted, scheduled, queued, sending, sent, delivered, undelivered, "
        "failed, canceled, read"
    )
    AccountSid: str | None = None
    ErrorCode: str | None = None
    ErrorMessage: str | None = None


class TwilioInboundForm(_Form):
    """Twilio's incoming message webhook (``MediaUrl<i>`` for i < ``NumMedia``)."""

    MessageSid: str = Field(description="Twilio's message id, the dedupe key")
    From: str = Field(description="the sender, normalised to E.164; else 400 invalid_address")
    To: str = Field(description="our number they wrote to")
    Body: str = Field(description="the text")
    NumMedia: int = Field(0, ge=0, description="how many MediaUrl<i> fields follow")
    AccountSid: str | None = None


def twilio_webhooks(config: TwilioConfig, ctx: WebhookContext) -> APIRouter:
    """Routes for Twilio's webhooks, checked with ``config.auth_token``."""
    router = APIRouter()
    token = config.auth_token.get_secret_value()
    public = ctx.public_url

    async def verified_form(request: Request, route: str) -> dict[str, str]:
        items = [(k, str(v)) for k, v in (await request.form()).multi_items()]
        signed: dict[str, list[str]] = {}
        for k, v in items:
            signed.setdefault(k, []).append(v)
        form = dict(items)
        signature = request.headers.get("x-twilio-signature", "")
        query = f"?{request.url.query}" if request.url.query else ""
        urls = {f"{public}{request.url.path}{query}", str(request.url)}
        if not signature or not any(validate_signature(token, u, signed, signature) for u in urls):
            ctx.count(route, "bad_signature")
            raise HTTPException(403, "X-Twilio-Signature is missing or does not match")
        return form

    @router.post(
        STATUS_PATH,
        status_code=204,
        response_class=Response,
        openapi_extra=form_body(TwilioStatusForm),
        responses={
            204: {"description": "stored on the status topic"},
            400: error("a required field is missing"),
            403: _BAD_SIGNATURE,
            503: UNAVAILABLE,
        },
    )
    async def status(request: Request) -> Response:
        """A delivery receipt: verified, then published to the status topic."""
        form = await verified_form(request, "twilio_status")
        try:
            report = parse_status_callback(form)
        except ValueError as exc:
            ctx.count("twilio_status", "invalid")
            raise HTTPException(400, str(exc)) from None
        await ctx.status("twilio_status", report)
        ctx.count("twilio_status", "accepted")
        return Response(status_code=204)

    @router.post(
        INBOUND_PATH,
        response_class=Response,
        openapi_extra=form_body(TwilioInboundForm),
        responses={
            200: {
                "description": "stored on the inbound topic; the reply goes out separately",
                "content": {"text/xml": {"schema": {"type": "string"}, "example": _EMPTY_TWIML}},
            },
            400: error("a required field is missing, or From is not a phone number"),
            403: _BAD_SIGNATURE,
            503: UNAVAILABLE,
        },
    )
    async def inbound(request: Request) -> Response:
        """An inbound SMS: answered 2xx only once the broker has acknowledged it."""
        form = await verified_form(request, "twilio_inbound")
        try:
            sms = parse_inbound(form)
        except ValueError as exc:
            ctx.count("twilio_inbound", "invalid")
            raise HTTPException(400, str(exc)) from None
        msg = InboundMessage(
            id=sms.id,
            sender=sms.sender,
            recipient=sms.recipient,
            text=sms.text,
            attachments=sms.attachments,
            sender_field="From",
        )
        await ctx.received("twilio_inbound", msg)
        ctx.count("twilio_inbound", "accepted")
        return Response(_EMPTY_TWIML, media_type="text/xml")

    return router
