"""Twilio's Messages API as the sandbox serves it, plus a route to simulate an inbound SMS."""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from channels.sandbox.callbacks import API_VERSION, post_signed, status_steps
from channels.sandbox.runtime import SandboxRuntime
from channels.sandbox.segments import count_segments
from channels.sandbox.store import SandboxMessage, new_sid

MAGIC_TO_ERRORS = {  # Twilio's test-credential magic numbers
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550009": (21614, "'To' number +15005550009 is not a valid mobile number."),
}


class InboundRequest(BaseModel):
    """Body of ``POST /_sandbox/twilio/inbound``: where to post, and the SMS a phone sends."""

    model_config = ConfigDict(populate_by_name=True)

    url: str = Field(description="Continuum's Twilio inbound webhook URL.")
    sender: str = Field(alias="from", description="The texting phone number.")
    to: str = Field(description="The Continuum number texted.")
    body: str = Field(default="", description="The text.")


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    """Answer with Twilio's REST error body."""
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    body = {"code": code, "message": message, "more_info": more_info, "status": status}
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """Return (user, password) from a basic ``Authorization`` header, or None."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def message_resource(message: SandboxMessage) -> dict[str, Any]:
    """Return a Twilio Message resource for ``message``."""
    uri = f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}"
    created = format_datetime(message.created_at)
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": created,
        "date_sent": None,
        "date_updated": created,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": message.sender,
        "messaging_service_sid": None,
        "num_media": str(len(message.media_urls)),
        "num_segments": str(count_segments(message.body)),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": "queued",
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": message.to,
        "uri": f"{uri}.json",
    }


def twilio_router(runtime: SandboxRuntime) -> APIRouter:
    """Build the Twilio routes bound to ``runtime``."""
    router = APIRouter()
    config = runtime.config

    @router.post("/2010-04-01/Accounts/{account_sid}/Messages.json")
    async def create_message(account_sid: str, request: Request) -> JSONResponse:
        creds = basic_credentials(request.headers.get("Authorization"))
        expected = (config.twilio_account_sid, config.twilio_auth_token.get_secret_value())
        if creds is None or not _same(creds, expected):
            return twilio_error(401, 20003, "Authenticate")
        if account_sid != creds[0]:
            return twilio_error(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
        form = await request.form()
        to, sender = str(form.get("To") or ""), str(form.get("From") or "")
        body, media = str(form.get("Body") or ""), [str(url) for url in form.getlist("MediaUrl")]
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not sender:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body and not media:
            return twilio_error(400, 21602, "Message body is required.")
        if to in MAGIC_TO_ERRORS:
            return twilio_error(400, *MAGIC_TO_ERRORS[to])
        message = SandboxMessage(
            sid=new_sid("SM"),
            account_sid=account_sid,
            to=to,
            sender=sender,
            body=body,
            created_at=datetime.now(UTC),
            media_urls=tuple(media),
            status_callback=str(form.get("StatusCallback") or "") or None,
        )
        runtime.store.add(message)
        await runtime.submit(status_steps(runtime, message))
        return JSONResponse(message_resource(message), status_code=201)

    @router.post("/_sandbox/twilio/inbound")
    async def simulate_inbound(inbound: InboundRequest) -> JSONResponse:
        sid = new_sid("SM")
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": config.twilio_account_sid,
            "From": inbound.sender,
            "To": inbound.to,
            "Body": inbound.body,
            "NumMedia": "0",
            "NumSegments": str(count_segments(inbound.body)),
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }
        token = config.twilio_auth_token.get_secret_value()
        try:
            resp = await post_signed(runtime.http, inbound.url, form, token)
        except httpx.TransportError as exc:
            return JSONResponse({"sid": sid, "error": str(exc)}, status_code=502)
        return JSONResponse({"sid": sid, "status_code": resp.status_code})

    return router


def _same(given: tuple[str, str], expected: tuple[str, str]) -> bool:
    """Compare credentials in constant time, both parts always checked."""
    user = hmac.compare_digest(given[0].encode(), expected[0].encode())
    password = hmac.compare_digest(given[1].encode(), expected[1].encode())
    return user and password
