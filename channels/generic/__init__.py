"""Generic webhook (medium ``webhook``): a business's own endpoint, signed per Standard Webhooks.

Continuum posts each reply as ``{"type": "message.sent", ...}`` to ``CONTINUUM_GENERIC__URL``;
the business posts inbound messages to ``/webhooks/generic/inbound`` and delivery statuses to
``/webhooks/generic/status``, all signed with the ``whsec_…`` secret (see ``signature``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from channels._http import raise_for_send_status, transport_error
from channels.base import OutboundMessage, SendResult
from channels.errors import ChannelConfigInvalid, SendError
from channels.generic.sandbox import SANDBOX_SECRET, SEND_PATH, generic_sandbox
from channels.generic.signature import fresh, sign, verify
from channels.provider import Provider
from channels.webhooks import (
    UNAVAILABLE,
    InboundMessage,
    StatusReport,
    WebhookContext,
    error,
)

STATUS_PATH = "/webhooks/generic/status"
INBOUND_PATH = "/webhooks/generic/inbound"

STATUS_MAP: Mapping[str, str] = {
    s: s for s in ("queued", "sent", "delivered", "read", "failed", "undelivered")
}
"""The business posts Continuum's own statuses; anything else is ``unknown``."""

ERROR_CODES: Mapping[str, type[SendError]] = {}
"""The business's 4xx carries no codes Continuum knows: every one is RejectedWithReason."""


class GenericSettings(BaseModel):
    """``CONTINUUM_GENERIC__*``; the defaults point at the local sandbox."""

    model_config = ConfigDict(frozen=True)

    url: str = Field(
        f"http://127.0.0.1:8090{SEND_PATH}", description="the business's endpoint replies go to"
    )
    secret: SecretStr = Field(
        SecretStr(SANDBOX_SECRET), description="whsec_… secret: signs both directions"
    )


class GenericWebhook:
    """Posts one message to the business's URL, signed per Standard Webhooks."""

    channel_type: ClassVar[str] = "webhook.generic"
    channel: ClassVar[str] = "webhook"
    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)

    def __init__(
        self,
        config: GenericSettings,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config, self._http, self._clock = config, http, clock

    async def send(self, msg: OutboundMessage) -> SendResult:
        secret = self._config.secret.get_secret_value()
        if not secret or not self._config.url:
            raise ChannelConfigInvalid("generic url and secret are required")
        now = self._clock()
        data: dict[str, Any] = {"message_id": msg.message_id, "to": msg.to, "text": msg.text}
        if msg.status_callback:
            data["status_url"] = msg.status_callback
        event = {"type": "message.sent", "timestamp": _iso(now), "data": data}
        body = json.dumps(event, separators=(",", ":")).encode()
        try:
            signature = sign(secret, msg.message_id, int(now), body)
        except ValueError as exc:
            raise ChannelConfigInvalid(str(exc)) from None
        headers = {
            "content-type": "application/json",
            "webhook-id": msg.message_id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": signature,
        }
        try:
            resp = await self._http.post(self._config.url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        raise_for_send_status(resp)
        return SendResult(external_ids=(msg.message_id,), status="sent", raw=_body(resp))


def _body(resp: httpx.Response) -> dict[str, Any]:
    """The business's answer when it is a JSON object; any 2xx is an acceptance regardless."""
    try:
        body: Any = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_BAD_SIGNATURE = error(
    "webhook-id, webhook-timestamp or webhook-signature is missing or does not match, "
    "or the timestamp is more than 5 minutes from now"
)


def generic_webhooks(
    config: GenericSettings, ctx: WebhookContext, clock: Callable[[], float] = time.time
) -> APIRouter:
    """``/webhooks/generic/inbound`` and ``/webhooks/generic/status``, checked with the secret.

    A replayed ``webhook-id`` is the same message id, which the inbound pipeline dedupes; one
    older than 5 minutes is refused here (403).
    """
    router = APIRouter()
    secret = config.secret.get_secret_value()

    async def verified(request: Request, route: str, kind: str) -> tuple[str, dict[str, Any]]:
        body = await request.body()
        h = request.headers
        msg_id, stamp = h.get("webhook-id", ""), h.get("webhook-timestamp", "")
        if not (
            verify(secret, msg_id, stamp, body, h.get("webhook-signature", ""))
            and fresh(stamp, clock())
        ):
            ctx.count(route, "bad_signature")
            raise HTTPException(403, "the Standard Webhooks signature is missing, wrong or stale")
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        data = event.get("data") if isinstance(event, dict) else None
        if not isinstance(event, dict) or event.get("type") != kind or not isinstance(data, dict):
            ctx.count(route, "invalid")
            raise HTTPException(400, f"the body is not a {kind} event with a data object")
        return msg_id, data

    responses: dict[int | str, dict[str, Any]] = {
        204: {"description": "stored on the broker"},
        400: error("not the expected event type, or a required field is missing"),
        403: _BAD_SIGNATURE,
        503: UNAVAILABLE,
    }

    @router.post(INBOUND_PATH, status_code=204, response_class=Response, responses=responses)
    async def inbound(request: Request) -> Response:
        """A message from the business's user (``message.received``), answered 2xx once stored."""
        msg_id, data = await verified(request, "generic_inbound", "message.received")
        sender, text = data.get("from"), data.get("text")
        if not isinstance(sender, str) or not isinstance(text, str):
            ctx.count("generic_inbound", "invalid")
            raise HTTPException(400, "data.from and data.text are required strings")
        recipient = str(data.get("to") or "continuum")
        msg = InboundMessage(msg_id, sender, recipient, text, sender_field="data.from")
        await ctx.received("generic_inbound", msg)
        ctx.count("generic_inbound", "accepted")
        return Response(status_code=204)

    @router.post(STATUS_PATH, status_code=204, response_class=Response, responses=responses)
    async def status(request: Request) -> Response:
        """A delivery status for one of our messages (``message.status``)."""
        _, data = await verified(request, "generic_status", "message.status")
        message_id, raw = data.get("message_id"), data.get("status")
        if not isinstance(message_id, str) or not message_id or not isinstance(raw, str):
            ctx.count("generic_status", "invalid")
            raise HTTPException(400, "data.message_id and data.status are required strings")
        report = StatusReport(message_id, STATUS_MAP.get(raw, "unknown"), raw)
        await ctx.status("generic_status", report)
        ctx.count("generic_status", "accepted")
        return Response(status_code=204)

    return router


GENERIC = Provider(
    name="generic",
    medium="webhook",
    adapter=GenericWebhook,
    settings=GenericSettings,
    settings_key="generic",
    webhooks=generic_webhooks,
    sandbox=generic_sandbox,
    verify=verify,
    status_map=STATUS_MAP,
    error_codes=ERROR_CODES,
    status_path=STATUS_PATH,
)
