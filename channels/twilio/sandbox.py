"""Twilio's Messages API as the sandbox serves it, plus a route to simulate an inbound SMS."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from channels.sandbox.callbacks import API_VERSION, failed_steps, post_signed, status_steps
from channels.sandbox.config import SandboxConfig
from channels.sandbox.injection import Answer, consult, queue_receipts
from channels.sandbox.runtime import SandboxRuntime
from channels.sandbox.segments import count_segments
from channels.sandbox.store import SandboxMessage, new_sid

HOLD_ACCEPTED_TO = "+15005550091"
"""Test hook: a send to this number is stored (and its receipts follow), but the answer is held
:data:`HOLD_S`: a client with a shorter timeout sees an unknown outcome the provider has."""
HOLD_DROPPED_TO = "+15005550092"
"""Test hook: a send to this number is held :data:`HOLD_S`, never stored, then answered 503: a
client with a shorter timeout sees an unknown outcome the provider never got."""
HOLD_S = 2.0

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


Reply = Answer
"""An answer of the Messages API, already encoded for either way of serving it (fast.py)."""

REJECTIONS = {
    "21211": "The 'To' number is not a valid phone number.",
    "21408": "Permission to send an SMS has not been enabled for the region indicated by the "
    "'To' number.",
    "21610": "Attempt to send to unsubscribed recipient",
    "21614": "'To' number is not a valid mobile number.",
}
"""Texts of the permanent refusals a ``reject`` fault may name (others get a generic text)."""


class _Faults:
    """How Twilio fails (:class:`~channels.sandbox.injection.FaultShape`): REST error bodies
    ``{code, message, more_info, status}``, 20429 with ``Retry-After`` when throttled."""

    provider = "twilio"
    send_code = "21211"
    receipt_code = "30006"  # "Landline or unreachable carrier"

    def error(self, status: int, message: str | None) -> Answer:
        default = "Service Unavailable" if status == 503 else "Internal Server Error"
        return twilio_error(status, 20000 + status, message or default)

    def throttle(self, retry_after: int) -> Answer:
        reply = twilio_error(429, 20429, "Too Many Requests")
        return Answer(reply.status, reply.body, {"Retry-After": str(retry_after)})

    def rejected(self, code: str, message: str | None) -> Answer:
        text = message or REJECTIONS.get(code, f"Message refused (error {code}).")
        return twilio_error(400, int(code) if code.isdigit() else 21211, text)


FAULTS = _Faults()


def twilio_error(status: int, code: int, message: str) -> Reply:
    """Answer with Twilio's REST error body."""
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    body = {"code": code, "message": message, "more_info": more_info, "status": status}
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return Reply(status, orjson.dumps(body), headers)


async def accept_message(
    runtime: SandboxRuntime,
    account_sid: str,
    path: str,
    authorization: str | None,
    form: Mapping[str, list[str]],
) -> Reply:
    """``POST /2010-04-01/Accounts/{account_sid}/Messages.json``: check, store, queue callbacks."""
    config = runtime.config
    creds = basic_credentials(authorization)
    if creds is None or not _known(creds, config):
        return twilio_error(401, 20003, "Authenticate")
    if account_sid != config.twilio_account_sid:  # an API key (SK) belongs to this account only
        return twilio_error(404, 20404, f"The requested resource {path} was not found")
    to, sender = _first(form, "To"), _first(form, "From")
    service = _first(form, "MessagingServiceSid") or None
    body, media = _first(form, "Body"), form.get("MediaUrl", [])
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if service is not None and service != config.twilio_messaging_service_sid:
        return twilio_error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
    if not sender and service is not None:
        sender = config.twilio_service_sender  # the service's sender pool: one number here
    if not sender:
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if not body and not media:
        return twilio_error(400, 21602, "Message body is required.")
    if to in MAGIC_TO_ERRORS or to == HOLD_DROPPED_TO:
        return await _refused(to)
    plan = await consult(runtime, FAULTS, to=to, text=body)
    if plan.answer is not None:
        return plan.answer
    message = SandboxMessage(
        sid=new_sid("SM"),
        account_sid=account_sid,
        to=to,
        sender=sender,
        body=body,
        created_at=datetime.now(UTC),
        media_urls=tuple(media),
        status_callback=_first(form, "StatusCallback") or None,
        provider="twilio",
        channel="sms",
    )
    runtime.store.add(message)
    await queue_receipts(
        runtime,
        plan,
        status_steps(runtime, message),
        lambda code, _text: failed_steps(runtime, message, code),
    )
    resource = message_resource(message)
    await _hold(to)
    if service is not None:  # as Twilio answers a send through a service
        resource["messaging_service_sid"] = service
        if not _first(form, "From"):
            resource.update({"from": None, "status": "accepted"})
    await plan.stall()
    return Reply(201, orjson.dumps(resource))


async def _hold(to: str) -> None:
    """Hold the answer to :data:`HOLD_ACCEPTED_TO` for :data:`HOLD_S` (a test hook)."""
    if to == HOLD_ACCEPTED_TO:
        await asyncio.sleep(HOLD_S)


async def _refused(to: str) -> Reply:
    """The answer to a magic number that refuses: at once, or held (a test hook)."""
    if to == HOLD_DROPPED_TO:
        await asyncio.sleep(HOLD_S)
        return twilio_error(503, 20500, "Held, then dropped (sandbox test hook)")
    return twilio_error(400, *MAGIC_TO_ERRORS[to])


def list_messages(
    runtime: SandboxRuntime, account_sid: str, authorization: str | None, query: Mapping[str, str]
) -> Reply:
    """``GET /2010-04-01/Accounts/{account_sid}/Messages.json``: the account's messages, newest
    first, filtered by ``To``, ``From`` and ``DateSent>`` / ``DateSent<`` (``YYYY-MM-DD``; the
    sandbox compares them with the creation date, as it sends at once), ``PageSize`` at most."""
    creds = basic_credentials(authorization)
    if creds is None or not _known(creds, runtime.config):
        return twilio_error(401, 20003, "Authenticate")
    after, before = query.get("DateSent>") or query.get("DateSent>="), query.get("DateSent<")
    try:
        size = min(1000, max(1, int(query.get("PageSize") or 50)))
        lo = datetime.fromisoformat(after[:10]).date() if after else None
        hi = datetime.fromisoformat(before[:10]).date() if before else None
    except ValueError:
        return twilio_error(400, 20001, "Invalid DateSent or PageSize")
    found = [
        message_resource(m)
        for m in reversed(runtime.store.matching(provider="twilio", to=query.get("To") or None))
        if m.account_sid == account_sid
        and (not query.get("From") or m.sender == query["From"])
        and (lo is None or m.created_at.date() >= lo)
        and (hi is None or m.created_at.date() <= hi)
    ][:size]
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
    page = {"messages": found, "page": 0, "page_size": size, "start": 0, "end": len(found)}
    page.update({"uri": uri, "first_page_uri": uri, "next_page_uri": None})
    page["previous_page_uri"] = None
    return Reply(200, orjson.dumps(page))


def _first(form: Mapping[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[-1] if values else ""  # the last of repeated fields, as starlette's form.get


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
    created = _rfc2822(message.created_at.replace(microsecond=0))
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


@lru_cache(maxsize=4)
def _rfc2822(at: datetime) -> str:
    """``date_created`` as Twilio writes it; one per second, so the last few are kept."""
    return format_datetime(at)


def twilio_sandbox(runtime: SandboxRuntime) -> APIRouter:
    """Build the Twilio routes bound to ``runtime``."""
    router = APIRouter()
    config = runtime.config

    @router.post("/2010-04-01/Accounts/{account_sid}/Messages.json")
    async def create_message(account_sid: str, request: Request) -> Response:
        async with request.form() as form:  # closes any uploaded parts
            fields = {key: [str(v) for v in form.getlist(key)] for key in form}
        auth = request.headers.get("Authorization")
        reply = await accept_message(runtime, account_sid, request.url.path, auth, fields)
        return Response(reply.body, reply.status, reply.headers, "application/json")

    @router.get("/2010-04-01/Accounts/{account_sid}/Messages.json")
    async def read_messages(account_sid: str, request: Request) -> Response:
        auth = request.headers.get("Authorization")
        reply = list_messages(runtime, account_sid, auth, dict(request.query_params))
        return Response(reply.body, reply.status, reply.headers, "application/json")

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


def _known(given: tuple[str, str], config: SandboxConfig) -> bool:
    """Whether ``given`` is the account's SID and auth token or its API key and secret, each
    compared in constant time (both pairs always checked)."""
    token = (config.twilio_account_sid, config.twilio_auth_token.get_secret_value())
    key = (config.twilio_api_key_sid, config.twilio_api_key_secret.get_secret_value())
    by_token, by_key = _same(given, token), _same(given, key)
    return by_token or by_key


def _same(given: tuple[str, str], expected: tuple[str, str]) -> bool:
    """Compare credentials in constant time, both parts always checked."""
    user = hmac.compare_digest(given[0].encode(), expected[0].encode())
    password = hmac.compare_digest(given[1].encode(), expected[1].encode())
    return user and password
