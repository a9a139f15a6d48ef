"""Vonage SMS: ``POST /sms/json``, inbound SMS and delivery-receipt webhooks, signed requests.

Vonage signs a webhook by HMAC-SHA256 over its sorted parameters (``signature.py``); the
parameters carry ``timestamp`` (Unix seconds) and ``nonce``, and a request whose timestamp is
more than ``REPLAY_WINDOW_S`` from now is refused as a replay. Each webhook answers 2xx only
once the broker has stored its event (503 with ``Retry-After`` otherwise, from the context).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from channels._http import parse_json, raise_for_send_status, transport_error
from channels.base import OutboundMessage, SendResult
from channels.errors import (
    ChannelConfigInvalid,
    ConnectionFailed,
    ContactStopped,
    RejectedWithReason,
    ResponseUnparseable,
    SendError,
    Throttled,
)
from channels.provider import Provider
from channels.vonage.sandbox import (
    SANDBOX_API_KEY,
    SANDBOX_API_SECRET,
    SANDBOX_SIGNATURE_SECRET,
    vonage_sandbox,
)
from channels.vonage.signature import REPLAY_WINDOW_S, fresh, sign, signed_string, verify
from channels.webhooks import (
    UNAVAILABLE,
    InboundMessage,
    StatusReport,
    WebhookContext,
    e164,
    error,
)

__all__ = [
    "ERROR_CODES",
    "INBOUND_PATH",
    "REPLAY_WINDOW_S",
    "STATUS_MAP",
    "STATUS_PATH",
    "VONAGE",
    "VonageSettings",
    "VonageSms",
    "e164",
    "fresh",
    "sign",
    "signed_string",
    "verify",
    "vonage_webhooks",
]

INBOUND_PATH = "/webhooks/vonage/inbound"
STATUS_PATH = "/webhooks/vonage/status"

STATUS_MAP: Mapping[str, str] = {
    "accepted": "sent",
    "buffered": "sent",
    "delivered": "delivered",
    "expired": "undelivered",
    "failed": "failed",
    "rejected": "failed",
    "unknown": "unknown",
}
"""Vonage delivery-receipt ``status`` → Continuum status; anything else is ``unknown``."""

ERROR_CODES: Mapping[str, type[SendError]] = {
    "1": Throttled,  # Throttled: sending faster than the account's rate
    "4": ChannelConfigInvalid,  # Invalid Credentials
    "5": ConnectionFailed,  # Internal Error: retry
    "7": ContactStopped,  # Number Barred
    "8": ChannelConfigInvalid,  # Partner Account Barred
    "9": ChannelConfigInvalid,  # Partner Quota Violation (not enough credit)
    "11": ChannelConfigInvalid,  # Account Not Enabled For HTTP
    "14": ChannelConfigInvalid,  # Invalid Signature
    "32": ChannelConfigInvalid,  # Signature And API Secret Disallowed
}
"""Vonage ``messages[].status`` → SendError; any other non-zero code is RejectedWithReason
(2 Missing Parameters, 3 Invalid Parameters, 6 Invalid Message, 12 Message Too Long,
15 Invalid Sender Address, 22 Invalid Network Code, 23 Invalid Callback Url,
29 Non-Whitelisted Destination, 33 Number De-activated, ...)."""


class VonageSettings(BaseModel):
    """``CONTINUUM_VONAGE__*``; the defaults point at the local sandbox."""

    model_config = ConfigDict(frozen=True)

    api_key: str = Field(SANDBOX_API_KEY, description="Vonage API key (api_key of each send)")
    api_secret: SecretStr = Field(
        SecretStr(SANDBOX_API_SECRET), description="Vonage API secret (api_secret of each send)"
    )
    signature_secret: SecretStr = Field(
        SecretStr(SANDBOX_SIGNATURE_SECRET),
        description="signature secret (SHA-256 HMAC) that signs Vonage's webhooks",
    )
    from_number: str = Field("447700900000", description="sender when a message has none")
    base_url: str = Field(
        "http://127.0.0.1:8090",
        description="SMS API root, https://rest.nexmo.com (follows the sandbox)",
    )


class VonageSms:
    """Sends one message through Vonage's SMS API, ``POST /sms/json``.

    With a ``signature_secret`` the request is signed (``timestamp`` and ``sig``, as Vonage's
    signed requests are), so no secret is ever sent; without one, ``api_secret`` goes in the
    form as Vonage's plain authentication.
    """

    channel_type: ClassVar[str] = "sms.vonage"
    channel: ClassVar[str] = "sms"
    secret_fields: ClassVar[tuple[str, ...]] = ("api_secret", "signature_secret")

    def __init__(self, config: VonageSettings, http: httpx.AsyncClient) -> None:
        self._config, self._http = config, http

    async def send(self, msg: OutboundMessage) -> SendResult:
        secret = self._config.api_secret.get_secret_value()
        signing = self._config.signature_secret.get_secret_value()
        if not self._config.api_key or not (secret or signing):
            raise ChannelConfigInvalid("vonage api_key and a signature_secret or api_secret")
        body: dict[str, str] = {
            "api_key": self._config.api_key,
            "from": (msg.sender or self._config.from_number).lstrip("+"),
            "to": msg.to.lstrip("+"),
            "text": msg.text,
            "client-ref": msg.message_id,
        }
        if msg.status_callback:
            body["callback"] = msg.status_callback
            body["status-report-req"] = "1"
        if signing:  # a signed request: no secret goes on the wire
            body["timestamp"] = str(int(time.time()))
            body["sig"] = sign(signing, body)
        else:
            body["api_secret"] = secret
        url = f"{self._config.base_url.rstrip('/')}/sms/json"
        try:
            resp = await self._http.post(url, data=body)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        raise_for_send_status(resp)
        data = parse_json(resp)
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ResponseUnparseable("no messages[] in the answer", status_code=resp.status_code)
        ids: list[str] = []
        for part in messages:
            if not isinstance(part, dict):
                raise ResponseUnparseable("messages[] holds a non-object")
            code = str(part.get("status"))
            if code != "0":
                raise _rejection(code, str(part.get("error-text", "")))
            ids.append(str(part.get("message-id")))
        return SendResult(external_ids=tuple(ids), status="queued", raw=data)


def _rejection(code: str, text: str) -> SendError:
    """Vonage's non-zero ``messages[].status`` as its SendError."""
    kind = ERROR_CODES.get(code)
    if kind is None:
        return RejectedWithReason(code, text, status_code=200)
    return kind(f"vonage status {code}: {text}", status_code=200)


async def _params(request: Request) -> dict[str, str]:
    """A webhook's parameters: the query string, then a form or JSON body over it."""
    params = {k: v for k, v in request.query_params.items()}
    if request.method == "POST":
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                data: Any = await request.json()
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise HTTPException(400, "the body is not a JSON object")
            params.update({str(k): str(v) for k, v in data.items()})
        else:
            params.update({k: str(v) for k, v in (await request.form()).items()})
    return params


_REFUSED = error("sig is missing or does not match, or timestamp is outside the replay window")


def vonage_webhooks(config: VonageSettings, ctx: WebhookContext) -> APIRouter:
    """``/webhooks/vonage/inbound`` and ``/webhooks/vonage/status``, signed requests."""
    router = APIRouter()
    secret = config.signature_secret.get_secret_value()

    async def verified(request: Request, route: str) -> dict[str, str]:
        try:
            params = await _params(request)
        except HTTPException:
            ctx.count(route, "invalid")
            raise
        if not verify(secret, params, params.get("sig", "")):
            ctx.count(route, "bad_signature")
            raise HTTPException(403, "sig is missing or does not match")
        if not fresh(params):
            ctx.count(route, "replay")
            raise HTTPException(403, "timestamp is outside the replay window")
        return params

    responses: dict[int | str, dict[str, Any]] = {
        400: error("a required field is missing"),
        403: _REFUSED,
        503: UNAVAILABLE,
    }

    @router.api_route(INBOUND_PATH, methods=["GET", "POST"], responses=responses)
    async def inbound(request: Request) -> Response:
        """An inbound SMS: answered 200 only once the broker has acknowledged it."""
        params = await verified(request, "vonage_inbound")
        missing = [f for f in ("messageId", "msisdn", "to") if not params.get(f)]
        if missing:
            ctx.count("vonage_inbound", "invalid")
            raise HTTPException(400, f"missing {', '.join(missing)}")
        msg = InboundMessage(
            id=params["messageId"],
            sender=e164(params["msisdn"]),
            recipient=e164(params["to"]),
            text=params.get("text", ""),
            sender_field="msisdn",
        )
        await ctx.received("vonage_inbound", msg)
        ctx.count("vonage_inbound", "accepted")
        return Response(status_code=200)

    @router.api_route(STATUS_PATH, methods=["GET", "POST"], responses=responses)
    async def status(request: Request) -> Response:
        """A delivery receipt: verified, then published to the status topic."""
        params = await verified(request, "vonage_status")
        if not params.get("messageId") or not params.get("status"):
            ctx.count("vonage_status", "invalid")
            raise HTTPException(400, "missing messageId or status")
        raw = params["status"]
        err = params.get("err-code")
        report = StatusReport(
            params["messageId"],
            STATUS_MAP.get(raw, "unknown"),
            raw,
            error_code=err if err and err != "0" else None,
        )
        await ctx.status("vonage_status", report)
        ctx.count("vonage_status", "accepted")
        return Response(status_code=200)

    return router


VONAGE = Provider(
    name="vonage",
    medium="sms",
    adapter=VonageSms,
    settings=VonageSettings,
    settings_key="vonage",
    webhooks=vonage_webhooks,
    sandbox=vonage_sandbox,
    verify=verify,
    status_map=STATUS_MAP,
    error_codes=ERROR_CODES,
    status_path=STATUS_PATH,
)
