"""SendGrid's v3 Mail Send as the sandbox serves it: ``POST /v3/mail/send`` with bearer auth,
signed Event Webhook batches, an Inbound Parse simulator (``POST /_sandbox/sendgrid/inbound``) and
a recipient's later events, a spam report say (``POST /_sandbox/sendgrid/events``).

SendGrid posts events to the one URL configured for the account, not per message, so the fake
learns it as SendGrid does: ``PATCH /v3/user/webhooks/event/settings`` with ``{"enabled": true,
"url": ...}`` (bearer auth). Until a URL is set, accepted mail gets no events (a SendGrid account
with the Event Webhook off behaves the same).
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
import uuid
from datetime import UTC, datetime
from email.utils import formataddr
from functools import partial
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from channels.sandbox.injection import Answer, consult, queue_receipts
from channels.sandbox.runtime import SandboxRuntime, Step
from channels.sandbox.store import SandboxMessage
from channels.sendgrid.sandbox_activity import activity_messages, parse_query, sg_message_id
from channels.sendgrid.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

logger = logging.getLogger(__name__)

SANDBOX_API_KEY = "SG.sandbox.sandbox-sendgrid-api-key"
"""The bearer key the fake accepts, and the default of ``CONTINUUM_SENDGRID__API_KEY``."""
SANDBOX_INBOUND_SECRET = "sandbox-sendgrid-inbound-secret"  # noqa: S105 (public)
"""The basic-auth password of the Inbound Parse URL (``CONTINUUM_SENDGRID__INBOUND_SECRET``)."""
SANDBOX_PRIVATE_KEY_PEM = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUu37HbkLLLaiCPh4
g5kmJebyVwBS6IRjgfytoKBmZWOhRANCAATChnBjgpjLbzcVfbZOVEUVokdH7jzy
pCbjuj2Q3cF2Ipw2Hqfr0ma5r6ZIZrbGb+uJH+psI4N+SqTW9eqGkwER
-----END PRIVATE KEY-----
"""
"""The fixed test key the fake signs event batches with (generated once; public, sandbox only)."""
SANDBOX_PUBLIC_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwoZwY4KYy283FX22TlRFFaJHR+488qQm47o9kN3BdiKcNh6n69Jmua"
    "+mSGa2xm/riR/qbCODfkqk1vXqhpMBEQ=="
)
"""Its public half, base64 DER SubjectPublicKeyInfo (``CONTINUUM_SENDGRID__EVENT_PUBLIC_KEY``)."""
EVENT_SEQUENCE = ("processed", "delivered")


class InboundRequest(BaseModel):
    """Body of ``POST /_sandbox/sendgrid/inbound``: where to post, and the email a person sends."""

    model_config = ConfigDict(populate_by_name=True)

    url: str = Field(description="Continuum's Inbound Parse URL (basic auth in it, or default)")
    sender: str = Field(alias="from", description="the sender, `a@b.com` or `Name <a@b.com>`")
    to: str = Field(description="the Continuum address written to")
    subject: str = ""
    text: str = ""
    in_reply_to: str | None = Field(
        None, description="the Message-ID replied to: the `In-Reply-To` header"
    )
    references: str | None = Field(
        None, description="the thread's Message-IDs, space-separated: the `References` header"
    )


class EventRequest(BaseModel):
    """Body of ``POST /_sandbox/sendgrid/events``: which message, and what the recipient did."""

    id: str = Field(description="the message's X-Message-Id (its `id` in GET /_sandbox/messages)")
    event: str = Field(
        description="the Event Webhook event: spamreport, unsubscribe, group_unsubscribe, open, ..."
    )


def _errors(status: int, message: str, field: str | None = None) -> JSONResponse:
    """SendGrid's error answer: ``{"errors": [{"message", "field", "help"}]}``."""
    return JSONResponse({"errors": [{"message": message, "field": field, "help": None}]}, status)


def _error_answer(
    status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> Answer:
    body = {"errors": [{"message": message, "field": field, "help": None}]}
    return Answer(status, orjson.dumps(body), headers)


BOUNCES = {
    "5.1.1": "550 5.1.1 The email account that you tried to reach does not exist.",
    "5.2.1": "550 5.2.1 The email account that you tried to reach is disabled.",
    "5.7.1": "550 5.7.1 Message rejected due to local policy.",
}
"""Reasons of the bounces a ``reject`` fault at receipt may name (by SMTP enhanced status)."""


class _Faults:
    """How SendGrid fails (:class:`~channels.sandbox.injection.FaultShape`): ``errors[]``
    bodies; a 429 with ``Retry-After`` and the ``X-RateLimit-*`` headers; a permanent failure
    at send is a 400 on the recipient, at receipt a ``bounce`` event (``status`` 5.1.1)."""

    provider = "sendgrid"
    send_code = "400"
    receipt_code = "5.1.1"

    def error(self, status: int, message: str | None) -> Answer:
        default = "Service Unavailable" if status == 503 else "Internal Server Error"
        return _error_answer(status, message or default)

    def throttle(self, retry_after: int) -> Answer:
        headers = {
            "Retry-After": str(retry_after),
            "X-RateLimit-Limit": "600",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + retry_after),
        }
        return _error_answer(429, "too many requests", None, headers)

    def rejected(self, code: str, message: str | None) -> Answer:
        status = int(code) if code in ("400", "413") else 400
        text = message or "Does not contain a valid address."
        return _error_answer(status, text, "personalizations.0.to.0.email")


FAULTS = _Faults()


def _authorized(request: Request) -> bool:
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {SANDBOX_API_KEY}".encode())


def _message_id() -> str:
    """An ``X-Message-Id``: 22 URL-safe base64 characters, as SendGrid's are."""
    return secrets.token_urlsafe(16)[:22]


def _refusal(body: Any) -> JSONResponse | None:
    """SendGrid's 400 for a mail missing what v3 Mail Send requires, or None."""
    if not isinstance(body, dict):
        return _errors(400, "Bad Request", None)
    people = body.get("personalizations")
    if not isinstance(people, list) or not people or not people[0].get("to"):
        return _errors(400, "The personalizations field is required", "personalizations")
    if not (body.get("from") or {}).get("email"):
        return _errors(400, "The from email does not contain a valid address.", "from.email")
    if not body.get("subject"):
        return _errors(400, "The subject is required.", "subject")
    content = body.get("content")
    if not isinstance(content, list) or not content:
        return _errors(
            400, "Unless a valid template_id is provided, content is required", "content"
        )
    if content[0].get("type") != "text/plain":
        return _errors(400, "text/plain must come first in content", "content")
    return None


def _event(
    message: SandboxMessage, kind: str, now: int, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    """One Event Webhook event about ``message``, as SendGrid sends it (``extra``: a bounce's
    ``type``, ``status`` and ``reason``)."""
    return {
        **(extra or {}),
        "email": message.to,
        "timestamp": now,
        "event": kind,
        "sg_event_id": uuid.uuid4().hex,
        "sg_message_id": sg_message_id(message.sid),
        "smtp-id": f"<{message.sid}@sandbox.sendgrid.net>",
        "continuum_message_id": message.account_sid,
        **({"response": "250 OK"} if kind == "delivered" else {}),
    }


def parse_fields(inbound: InboundRequest, message_id: str) -> dict[str, str]:
    """The form fields of the Inbound Parse post SendGrid makes for ``inbound``."""
    address = inbound.sender.rsplit("<", 1)[-1].rstrip(">").strip()
    date = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    headers = (
        f"Message-ID: {message_id}\r\nFrom: {inbound.sender}\r\nTo: {inbound.to}\r\n"
        f"Subject: {inbound.subject}\r\nDate: {date}\r\n"
    )
    if inbound.in_reply_to:
        headers += f"In-Reply-To: {inbound.in_reply_to}\r\n"
    if inbound.references:
        headers += f"References: {inbound.references}\r\n"
    utf8 = {name: "UTF-8" for name in ("to", "from", "subject", "text")}
    return {
        "headers": headers,
        "dkim": "{@sandbox.example : pass}",
        "to": inbound.to,
        "from": inbound.sender if "<" in inbound.sender else formataddr(("", address)),
        "subject": inbound.subject,
        "text": inbound.text,
        "sender_ip": "192.0.2.1",
        "envelope": json.dumps({"to": [inbound.to], "from": address}),
        "attachments": "0",
        "charsets": json.dumps(utf8),
        "SPF": "pass",
    }


UNAUTHORIZED = "The provided authorization grant is invalid, expired, or revoked"


class _Fake:
    """The fake's routes over one sandbox runtime and its account's Event Webhook settings."""

    def __init__(self, runtime: SandboxRuntime) -> None:
        self.runtime = runtime
        configured = runtime.config.console_webhooks.get("sendgrid")
        self.webhook: dict[str, Any] = {"enabled": bool(configured), "url": configured}

    async def event(
        self, message: SandboxMessage, kind: str, extra: dict[str, str] | None = None
    ) -> None:
        """Post one signed batch holding ``kind`` about ``message`` to the events URL."""
        message.status = kind
        await self._post_event(message, kind, extra)

    def bounced(self, message: SandboxMessage, code: str, reason: str | None) -> list[Step]:
        """The events of a mail the receiving server refused: processed, then a bounce."""
        bounce = {
            "type": "bounce",
            "status": code,
            "reason": reason or BOUNCES.get(code, f"550 {code} Message rejected"),
        }
        return [
            partial(self.event, message, "processed"),
            partial(self.event, message, "bounce", bounce),
        ]

    async def _post_event(
        self, message: SandboxMessage, kind: str, extra: dict[str, str] | None = None
    ) -> int | None:
        """The signed post of :meth:`event`: the API's answer's status, or None when there is
        no events URL or it could not be reached."""
        url = message.status_callback
        if not url:
            return None
        now = int(time.time())
        raw = json.dumps([_event(message, kind, now, extra)]).encode()
        stamp = str(now)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(SANDBOX_PRIVATE_KEY_PEM, stamp, raw),
            TIMESTAMP_HEADER: stamp,
        }
        try:
            resp = await self.runtime.http.post(url, content=raw, headers=headers)
        except httpx.TransportError as exc:
            logger.warning("sendgrid events to %s failed: %s", url, exc)
            return None
        if resp.is_success:
            message.callbacks.append(kind)
        return resp.status_code

    async def simulate_event(self, request: EventRequest) -> JSONResponse:
        """``POST /_sandbox/sendgrid/events``: the recipient acts on a message the fake accepted
        (reports it as spam, clicks unsubscribe): one signed batch of ``event`` about it to the
        events URL. 404 for an unknown id, 409 while the Event Webhook is off."""
        found = [m for m in self.runtime.store.matching(provider="sendgrid") if m.sid == request.id]
        if not found:
            return _errors(404, f"no message {request.id}", "id")
        if not found[0].status_callback:
            return _errors(409, "the Event Webhook is off: no events URL is set")
        status_code = await self._post_event(found[0], request.event)
        return JSONResponse({"id": request.id, "event": request.event, "status_code": status_code})

    async def send(self, request: Request) -> Response:
        """``POST /v3/mail/send``: 202 with ``X-Message-Id``, or SendGrid's ``errors[]``."""
        if not _authorized(request):
            return _errors(401, UNAUTHORIZED)
        try:
            body: Any = await request.json()
        except ValueError:
            return _errors(400, "Bad Request")
        if (refused := _refusal(body)) is not None:
            return refused
        person = body["personalizations"][0]
        to = str(person["to"][0].get("email", ""))
        plan = await consult(
            self.runtime, FAULTS, to=to, text=str(body["content"][0].get("value", ""))
        )
        if plan.answer is not None:
            return plan.answer.response()
        args = person.get("custom_args") or body.get("custom_args") or {}
        message = SandboxMessage(
            sid=_message_id(),
            account_sid=str(args.get("continuum_message_id", "")),
            to=to,
            sender=str(body["from"]["email"]),
            body=str(body["content"][0].get("value", "")),
            created_at=datetime.now(UTC),
            status_callback=self.webhook["url"] if self.webhook["enabled"] else None,
            provider="sendgrid",
            channel="email",
            status="accepted",
            subject=str(body.get("subject") or person.get("subject") or "") or None,
        )
        self.runtime.store.add(message)
        steps = [partial(self.event, message, k) for k in EVENT_SEQUENCE]
        await queue_receipts(
            self.runtime, plan, steps, lambda code, why: self.bounced(message, code, why)
        )
        await plan.stall()
        return Response(status_code=202, headers={"X-Message-Id": message.sid})

    async def activity(self, request: Request) -> JSONResponse:
        """``GET /v3/messages``: the Email Activity API over the accepted mail (the query
        subset of :mod:`channels.sendgrid.sandbox_activity`); 400 for what it cannot parse."""
        if not _authorized(request):
            return _errors(401, UNAUTHORIZED)
        raw_limit = request.query_params.get("limit", "10")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
            return _errors(400, "limit must be an integer from 1 to 1000", "limit")
        query = request.query_params.get("query", "").strip()
        clauses = parse_query(query) if query else []
        if clauses is None:
            return _errors(400, "invalid query", "query")
        mail = self.runtime.store.matching(provider="sendgrid")
        return JSONResponse(activity_messages(mail, clauses, int(raw_limit)))

    async def settings(self, request: Request) -> JSONResponse:
        """``GET /v3/user/webhooks/event/settings``."""
        if not _authorized(request):
            return _errors(401, UNAUTHORIZED)
        return JSONResponse(self.webhook)

    async def configure(self, request: Request) -> JSONResponse:
        """``PATCH /v3/user/webhooks/event/settings``: ``{"enabled", "url"}``."""
        if not _authorized(request):
            return _errors(401, UNAUTHORIZED)
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _errors(400, "Bad Request")
        self.webhook.update({k: body[k] for k in ("enabled", "url") if k in body})
        return JSONResponse(self.webhook)

    async def simulate_inbound(self, inbound: InboundRequest) -> JSONResponse:
        """``POST /_sandbox/sendgrid/inbound``: an Inbound Parse post of ``inbound``."""
        return await post_inbound_parse(self.runtime.http, inbound)


async def post_inbound_parse(http: httpx.AsyncClient, inbound: InboundRequest) -> JSONResponse:
    """Post ``inbound`` to its URL as SendGrid's Inbound Parse does: multipart form fields, the
    email's headers (threading ones included) in ``headers``, basic auth from the URL (the
    sandbox's inbound secret when the URL has none); answers the id given to the email and the
    status the URL answered, or 502 when it could not be reached."""
    mid = f"<{uuid.uuid4().hex}@sandbox.example>"
    url = httpx.URL(inbound.url)
    if not url.userinfo:  # SendGrid posts with the basic auth written in the URL
        url = url.copy_with(username="sendgrid", password=SANDBOX_INBOUND_SECRET)
    files = {name: (None, value) for name, value in parse_fields(inbound, mid).items()}
    try:
        resp = await http.post(url, files=files)
    except httpx.TransportError as exc:
        return JSONResponse({"id": mid, "error": str(exc)}, 502)
    return JSONResponse({"id": mid, "status_code": resp.status_code})


def sendgrid_sandbox(runtime: SandboxRuntime) -> APIRouter:
    """The fake Mail Send, Event Webhook settings, and the Inbound Parse and events simulators."""
    fake = _Fake(runtime)
    router = APIRouter()
    router.add_api_route("/v3/mail/send", fake.send, methods=["POST"])
    router.add_api_route("/v3/messages", fake.activity, methods=["GET"])
    router.add_api_route("/v3/user/webhooks/event/settings", fake.settings, methods=["GET"])
    router.add_api_route("/v3/user/webhooks/event/settings", fake.configure, methods=["PATCH"])
    router.add_api_route("/_sandbox/sendgrid/inbound", fake.simulate_inbound, methods=["POST"])
    router.add_api_route("/_sandbox/sendgrid/events", fake.simulate_event, methods=["POST"])
    return router
