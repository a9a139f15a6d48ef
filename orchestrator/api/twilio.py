"""Twilio webhooks: delivery status callbacks and inbound SMS, both signature-checked.

Each answers 2xx only once the broker has stored its event. The wait is bounded by
``api.publish_timeout_s`` (5 s): past it, or when the broker refuses, the answer is 503 with
``Retry-After`` and ``continuum_webhook_total{outcome="publish_timeout"|"publish_error"}`` counts
it, so the caller retries (Twilio retries inbound messages, not status callbacks) instead of
hanging until its own 15 s limit.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING

from aiokafka.errors import KafkaError
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from channels.twilio.adapter import TwilioSms, parse_inbound, parse_status_callback
from channels.twilio.signature import validate_signature
from orchestrator.addresses import InvalidAddress, normalize_phone
from orchestrator.api.models import (
    UNAVAILABLE,
    TwilioInboundForm,
    TwilioStatusForm,
    error,
    form_body,
)
from orchestrator.engine.decisions import derive_id
from orchestrator.events import MESSAGE_RECEIVED, MESSAGE_STATUS, CloudEvent, MessageStatus

if TYPE_CHECKING:
    from orchestrator.api.app import ApiDeps

STATUS_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/inbound"
_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

log = logging.getLogger(__name__)

_BAD_SIGNATURE = error("X-Twilio-Signature is missing or does not match")


def twilio_router(deps: ApiDeps) -> APIRouter:
    """Routes for Twilio's webhooks."""
    router = APIRouter()
    token = deps.settings.twilio.auth_token.get_secret_value()
    public = deps.settings.api_public_url

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
            deps.metrics.webhook_total.labels(route, "bad_signature").inc()
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
            deps.metrics.webhook_total.labels("twilio_status", "invalid").inc()
            raise HTTPException(400, str(exc)) from None
        data = MessageStatus(
            provider=TwilioSms.channel_type,
            external_id=report.external_id,
            status=report.status,
            provider_status=report.provider_status,
            error_code=report.error_code,
            error_message=report.error_message,
        )
        event = CloudEvent(
            specversion="1.0",
            id=derive_id("st", report.external_id, report.provider_status),
            source="/channels/sms/twilio",
            type=MESSAGE_STATUS,
            data=data.model_dump(mode="json", exclude_none=True),
        )
        await _publish_now(deps, "twilio_status", deps.topics.status, event, report.external_id)
        deps.metrics.webhook_total.labels("twilio_status", "accepted").inc()
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
            deps.metrics.webhook_total.labels("twilio_inbound", "invalid").inc()
            raise HTTPException(400, str(exc)) from None
        try:
            sender = normalize_phone(sms.sender)
        except InvalidAddress as exc:
            deps.metrics.webhook_total.labels("twilio_inbound", "invalid").inc()
            raise HTTPException(400, f"{exc.reason}: From: {exc}") from None
        event = CloudEvent(
            specversion="1.0",
            id=sms.id,
            source="/channels/sms/twilio",
            type=MESSAGE_RECEIVED,
            data={
                "channel": "sms",
                "from": sender,
                "to": sms.recipient,
                "text": sms.text,
                "attachments": list(sms.attachments),
            },
        )
        await _publish_now(deps, "twilio_inbound", deps.topics.inbound("sms"), event, sender)
        deps.metrics.webhook_total.labels("twilio_inbound", "accepted").inc()
        return Response(_EMPTY_TWIML, media_type="text/xml")

    return router


async def _publish_now(deps: ApiDeps, route: str, topic: str, event: CloudEvent, key: str) -> None:
    """Publish and wait for the broker's ack, at most ``api.publish_timeout_s``; else 503."""
    timeout = deps.settings.api.publish_timeout_s
    try:
        async with asyncio.timeout(timeout):
            await deps.publisher.publish_confirmed(topic, event, key)
    except TimeoutError:
        outcome, why = "publish_timeout", f"the broker did not acknowledge within {timeout:g}s"
    except (KafkaError, OSError) as exc:
        outcome, why = "publish_error", f"the broker refused the event: {exc}"
    else:
        return
    deps.metrics.webhook_total.labels(route, outcome).inc()
    log.warning("%s: answering 503: %s", route, why)
    retry_after = str(max(1, math.ceil(timeout)))
    raise HTTPException(
        503, f"the event could not be stored: {why}", headers={"Retry-After": retry_after}
    )
