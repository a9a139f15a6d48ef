"""SendGrid v3 email: ``POST /v3/mail/send``, the signed Event Webhook and Inbound Parse.

Event batches are signed with ECDSA (``signature.py``) over the timestamp header and the raw
body; a batch whose timestamp is more than ``REPLAY_WINDOW_S`` from now is refused as a replay,
and an ``sg_event_id`` seen recently is not published again. Inbound Parse carries no signature,
so its URL carries HTTP basic auth (``https://sendgrid:<inbound_secret>@host/webhooks/sendgrid/
inbound``, which SendGrid supports) and the route checks the password in constant time; replays
are the inbound dedupe on the ``Message-ID``. Each webhook answers 2xx only once the broker has
stored every event (503 with ``Retry-After`` otherwise, from the context).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.parser import HeaderParser
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import Any, ClassVar

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from channels._http import raise_for_send_status, transport_error
from channels.base import FoundSend, OutboundMessage, SendResult
from channels.errors import (
    ChannelConfigInvalid,
    ConnectionFailed,
    RejectedWithReason,
    ResponseUnparseable,
    SendError,
    Throttled,
)
from channels.provider import Provider
from channels.sendgrid import activity
from channels.sendgrid.sandbox import (
    SANDBOX_API_KEY,
    SANDBOX_INBOUND_SECRET,
    SANDBOX_PUBLIC_KEY,
    sendgrid_sandbox,
)
from channels.sendgrid.signature import (
    REPLAY_WINDOW_S,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    fresh,
    public_key,
    sign,
    verify,
)
from channels.webhooks import UNAVAILABLE, InboundMessage, StatusReport, WebhookContext, error

__all__ = [
    "ERROR_CODES",
    "EVENTS_PATH",
    "INBOUND_PATH",
    "OPT_OUT_EVENTS",
    "REPLAY_WINDOW_S",
    "SENDGRID",
    "STATUS_MAP",
    "SendGridEmail",
    "SendGridSettings",
    "event_report",
    "fresh",
    "parse_inbound",
    "sign",
    "verify",
]

EVENTS_PATH = "/webhooks/sendgrid/events"
INBOUND_PATH = "/webhooks/sendgrid/inbound"

STATUS_MAP: Mapping[str, str] = {
    "processed": "sent",
    "deferred": "queued",
    "delivered": "delivered",
    "open": "read",
    "click": "read",
    "bounce": "failed",
    "blocked": "undelivered",
    "dropped": "failed",
    "spamreport": "delivered",
    "unsubscribe": "delivered",
    "group_unsubscribe": "delivered",
}
"""SendGrid event → Continuum status; ``blocked`` is a ``bounce`` of ``type: blocked`` (a soft
bounce); anything else (``group_resubscribe``, ...) is ``unknown``."""

OPT_OUT_EVENTS = frozenset({"spamreport", "unsubscribe", "group_unsubscribe"})
"""Events that mean the recipient opted out (a spam complaint, the unsubscribe link, an
unsubscribe from a suppression group): reported ``opted_out`` with ``error_code`` = the event
name."""

ERROR_CODES: Mapping[str, type[SendError]] = {
    "400": RejectedWithReason,
    "401": ChannelConfigInvalid,
    "403": ChannelConfigInvalid,
    "413": RejectedWithReason,
    "429": Throttled,
    "500": ConnectionFailed,
}
"""SendGrid's HTTP status → SendError (429 carries ``Retry-After``; every 5xx is retried)."""

DEDUPE_EVENTS = 10_000
"""How many recent ``sg_event_id`` each API process remembers (a cheap, local dedupe)."""


class SendGridSettings(BaseModel):
    """``CONTINUUM_SENDGRID__*``; the defaults point at the local sandbox."""

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr = Field(
        SecretStr(SANDBOX_API_KEY), description="SendGrid API key (`Authorization: Bearer`)"
    )
    from_email: str = Field("continuum@sandbox.example", description="sender address")
    from_name: str = Field("Continuum", description="sender display name")
    reply_to: str | None = Field(None, description="Reply-To address, when not the sender")
    subject: str = Field("Message from Continuum", description="subject when a message has none")
    event_public_key: str = Field(
        SANDBOX_PUBLIC_KEY,
        description="Event Webhook verification key: base64 DER SubjectPublicKeyInfo "
        "(Mail Settings → Signed Event Webhook)",
    )
    inbound_secret: SecretStr = Field(
        SecretStr(SANDBOX_INBOUND_SECRET),
        description="basic-auth password of the Inbound Parse URL "
        "(`https://sendgrid:<secret>@host/webhooks/sendgrid/inbound`)",
    )
    base_url: str = Field(
        "http://127.0.0.1:8090",
        description="v3 API root, https://api.sendgrid.com (follows the sandbox)",
    )


def _rejection(resp: httpx.Response) -> SendError | None:
    """A 4xx's ``errors[]`` as its SendError: 401/403 config; 400/413 with a reason rejected
    (a 4xx without ``errors[]`` is left to ``ResponseStatus``)."""
    try:
        body: Any = resp.json()
    except ValueError:
        body = {}
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    text = str(first.get("message") or f"HTTP {resp.status_code}")
    if first.get("field"):
        text = f"{first['field']}: {text}"
    if resp.status_code in (401, 403):
        return ChannelConfigInvalid(f"sendgrid: {text}", status_code=resp.status_code)
    if resp.status_code in (400, 413) and first:
        return RejectedWithReason(str(resp.status_code), text, status_code=resp.status_code)
    return None


class SendGridEmail:
    """Sends one email through SendGrid's v3 Mail Send, ``POST /v3/mail/send``.

    The result's external ids are SendGrid's ``X-Message-Id`` and Continuum's message id: events
    carry the first as the prefix of ``sg_message_id`` and echo the second as the
    ``continuum_message_id`` custom argument, so a status finds the message either way.
    """

    channel_type: ClassVar[str] = "email.sendgrid"
    channel: ClassVar[str] = "email"
    secret_fields: ClassVar[tuple[str, ...]] = ("api_key", "inbound_secret")

    def __init__(self, config: SendGridSettings, http: httpx.AsyncClient) -> None:
        self._config, self._http = config, http

    async def send(self, msg: OutboundMessage) -> SendResult:
        key = self._config.api_key.get_secret_value()
        if not key or not self._config.from_email:
            raise ChannelConfigInvalid("sendgrid api_key and from_email")
        content = [{"type": "text/plain", "value": msg.text}]
        if msg.html:
            content.append({"type": "text/html", "value": msg.html})
        sender: dict[str, str] = {"email": msg.sender or self._config.from_email}
        if self._config.from_name:
            sender["name"] = self._config.from_name
        body: dict[str, Any] = {
            "personalizations": [
                {"to": [{"email": msg.to}], "custom_args": {"continuum_message_id": msg.message_id}}
            ],
            "from": sender,
            "subject": msg.subject or self._config.subject,
            "content": content,
        }
        if self._config.reply_to:
            body["reply_to"] = {"email": self._config.reply_to}
        url = f"{self._config.base_url.rstrip('/')}/v3/mail/send"
        try:
            resp = await self._http.post(url, json=body, headers={"Authorization": f"Bearer {key}"})
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        raise_for_send_status(resp, reject=_rejection)
        external = resp.headers.get("X-Message-Id")
        if not external:
            raise ResponseUnparseable("no X-Message-Id in the answer", status_code=resp.status_code)
        return SendResult(external_ids=(external, msg.message_id), status="queued")

    async def find_sent(
        self, msg: OutboundMessage, since: datetime, until: datetime
    ) -> Sequence[FoundSend]:
        """SendGrid's messages whose ``continuum_message_id`` is ``msg``'s, from the Email
        Activity API (a paid add-on: see :mod:`channels.sendgrid.activity`); the query names
        the message, so ``since`` and ``until`` are not needed."""
        key = self._config.api_key.get_secret_value()
        if not key:
            raise ChannelConfigInvalid("sendgrid api_key")
        return await activity.find_sent(self._http, self._config.base_url, key, msg)


def event_report(event: Mapping[str, Any]) -> StatusReport | None:
    """One Event Webhook event as a status, or None when it names no message."""
    raw = str(event.get("event", ""))
    ours = event.get("continuum_message_id")
    theirs = str(event.get("sg_message_id") or "").split(".", 1)[0]
    external = str(ours) if ours else theirs
    if not raw or not external:
        return None
    kind = "blocked" if raw == "bounce" and event.get("type") == "blocked" else raw
    reason = event.get("reason") or event.get("response")
    code = raw if raw in OPT_OUT_EVENTS else (str(event["status"]) if event.get("status") else None)
    return StatusReport(
        external,
        STATUS_MAP.get(kind, "unknown"),
        raw,
        error_code=code,
        error_message=str(reason) if reason else None,
        opted_out=raw in OPT_OUT_EVENTS,
    )


class _Text(HTMLParser):
    """The text of an HTML body, for an inbound email that has no ``text`` part."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def strip_html(html: str) -> str:
    """``html``'s text, blank runs collapsed."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def parse_inbound(form: Mapping[str, str]) -> InboundMessage:
    """An Inbound Parse post as an InboundMessage; raises ValueError naming what is missing.

    The sender is ``envelope.from``, else the address in ``from``; the recipient is the first of
    ``envelope.to``, else ``to``; the id is the ``Message-ID`` header (a generated one if absent).
    """
    envelope: Any = {}
    if form.get("envelope"):
        try:
            envelope = json.loads(form["envelope"])
        except ValueError:
            envelope = {}
    envelope = envelope if isinstance(envelope, dict) else {}
    sender = str(envelope.get("from") or parseaddr(form.get("from", ""))[1])
    field = "envelope" if envelope.get("from") else "from"
    tos = envelope.get("to")
    recipient = str(tos[0]) if isinstance(tos, list) and tos else parseaddr(form.get("to", ""))[1]
    if not sender:
        raise ValueError("missing from (and envelope.from)")
    headers = HeaderParser().parsestr(form.get("headers", ""), headersonly=True)
    mid = (headers.get("Message-ID") or "").strip() or f"<{uuid.uuid4().hex}@continuum.generated>"
    text = form.get("text") or strip_html(form.get("html", ""))
    return InboundMessage(id=mid, sender=sender, recipient=recipient, text=text, sender_field=field)


def _basic_password(header: str) -> str | None:
    """The password of an ``Authorization: Basic`` header, or None."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


class _Webhooks:
    """The two routes' handlers, over one settings section and the API's context."""

    def __init__(self, config: SendGridSettings, ctx: WebhookContext) -> None:
        self._key = public_key(config.event_public_key)
        self._secret = config.inbound_secret.get_secret_value()
        self._ctx = ctx
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def events(self, request: Request) -> Response:
        """An event batch, signed: every event published before the 200."""
        route = "sendgrid_events"
        raw = await request.body()
        stamp = request.headers.get(TIMESTAMP_HEADER, "")
        if not verify(self._key, stamp, raw, request.headers.get(SIGNATURE_HEADER, "")):
            self._ctx.count(route, "bad_signature")
            raise HTTPException(403, "the event webhook signature does not verify")
        if not fresh(stamp):
            self._ctx.count(route, "replay")
            raise HTTPException(403, "the timestamp is outside the replay window")
        try:
            batch: Any = json.loads(raw)
        except ValueError:
            batch = None
        if not isinstance(batch, list) or not all(isinstance(e, dict) for e in batch):
            self._ctx.count(route, "invalid")
            raise HTTPException(400, "the body is not a JSON array of event objects")
        for event in batch:
            await self._publish(route, event)
        return Response(status_code=200)

    async def _publish(self, route: str, event: Mapping[str, Any]) -> None:
        """One event of a batch: skipped when its ``sg_event_id`` was published already."""
        event_id = str(event.get("sg_event_id") or "")
        if event_id and event_id in self._seen:
            self._ctx.count(route, "replay")
            return
        report = event_report(event)
        if report is None:
            self._ctx.count(route, "invalid")
            return
        await self._ctx.status(route, report)
        self._ctx.count(route, "accepted")
        if event_id:
            self._seen[event_id] = None
            while len(self._seen) > DEDUPE_EVENTS:
                self._seen.popitem(last=False)

    async def inbound(self, request: Request) -> Response:
        """An inbound email: answered 200 only once the broker has acknowledged it."""
        route = "sendgrid_inbound"
        given = _basic_password(request.headers.get("authorization", ""))
        if given is None or not hmac.compare_digest(given.encode(), self._secret.encode()):
            self._ctx.count(route, "bad_signature")
            raise HTTPException(401, "basic auth missing or wrong", {"WWW-Authenticate": "Basic"})
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            self._ctx.count(route, "invalid")
            raise HTTPException(400, "Inbound Parse posts multipart/form-data")
        form = await request.form()
        try:
            msg = parse_inbound({k: v for k, v in form.items() if isinstance(v, str)})
        except ValueError as exc:
            self._ctx.count(route, "invalid")
            raise HTTPException(400, str(exc)) from None
        await self._ctx.received(route, msg)
        self._ctx.count(route, "accepted")
        return Response(status_code=200)


def sendgrid_webhooks(config: SendGridSettings, ctx: WebhookContext) -> APIRouter:
    """``/webhooks/sendgrid/events`` (signed) and ``/webhooks/sendgrid/inbound`` (basic auth)."""
    hooks = _Webhooks(config, ctx)
    router = APIRouter()
    router.add_api_route(
        EVENTS_PATH,
        hooks.events,
        methods=["POST"],
        responses={
            400: error("the body is not a JSON array of events"),
            403: error("the signature does not verify, or the timestamp is outside the window"),
            503: UNAVAILABLE,
        },
    )
    router.add_api_route(
        INBOUND_PATH,
        hooks.inbound,
        methods=["POST"],
        responses={
            400: error("not a multipart Inbound Parse post, or no sender"),
            401: error("the URL's basic-auth password is not the inbound secret"),
            503: UNAVAILABLE,
        },
    )
    return router


SENDGRID = Provider(
    name="sendgrid",
    medium="email",
    adapter=SendGridEmail,
    settings=SendGridSettings,
    settings_key="sendgrid",
    webhooks=sendgrid_webhooks,
    sandbox=sendgrid_sandbox,
    verify=verify,
    status_map=STATUS_MAP,
    error_codes=ERROR_CODES,
    status_path=None,
    console_webhook_path=EVENTS_PATH,
)
