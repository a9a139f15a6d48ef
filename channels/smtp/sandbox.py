"""The sandbox's SMTP server (``aiosmtpd``, in the sandbox's event loop): AUTH PLAIN/LOGIN with
the sandbox credentials, each accepted message recorded in the store (provider ``smtp``).

It listens on ``SandboxConfig.smtp_host``/``smtp_port`` (``CONTINUUM_SANDBOX__SMTP_PORT``, 8025;
0: a free port, then ``runtime.ports["smtp"]`` says which) from the sandbox's lifespan. Plain
text only: AUTH is allowed without TLS (``auth_require_tls=False``), as it is on loopback; no
STARTTLS. Recipients whose local part is ``bounce`` are refused ``550``, ``rejected`` ``554``,
``busy`` ``451``, ``full`` ``452`` (``REFUSED``), so tests see the SMTP error mapping.

``POST /_sandbox/smtp/inbound`` is a customer's email to Continuum: SMTP itself has no inbound
HTTP route, so it arrives as a deployment receives it, through SendGrid's Inbound Parse (the
SendGrid fake's :func:`~channels.sendgrid.sandbox.post_inbound_parse`, posting to the API's
``/webhooks/sendgrid/inbound``). A reply names the Message-ID it answers (``in_reply_to``);
without ``references`` it gets the ones a mail client writes: the parent's ``References`` (when
this server received the parent) followed by the parent's Message-ID.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from channels.sandbox.runtime import SandboxRuntime
from channels.sandbox.store import MessageStore, SandboxMessage, new_sid
from channels.sendgrid.sandbox import InboundRequest as ParseRequest
from channels.sendgrid.sandbox import post_inbound_parse

logger = logging.getLogger(__name__)

SANDBOX_USERNAME = "sandbox"
"""The AUTH user the sandbox accepts, and the default of ``CONTINUUM_SMTP__USERNAME``."""
SANDBOX_PASSWORD = "sandbox-smtp-password"  # noqa: S105 (the sandbox's, public)
"""The AUTH password the sandbox accepts, and the default of ``CONTINUUM_SMTP__PASSWORD``."""
SANDBOX_SMTP_PORT = 8025
"""Where the sandbox's SMTP server listens by default (``CONTINUUM_SANDBOX__SMTP_PORT``)."""
REFUSED: dict[str, str] = {
    "bounce": "550 5.1.1 User unknown",
    "rejected": "554 5.7.1 Message rejected",
    "busy": "451 4.3.0 Mailbox busy, try again later",
    "full": "452 4.2.2 Mailbox full",
}
"""Recipient local parts the server refuses, and the reply each gets."""


class InboundRequest(BaseModel):
    """Body of ``POST /_sandbox/smtp/inbound``: where to post, and the email a person sends."""

    model_config = ConfigDict(populate_by_name=True)

    url: str = Field(description="Continuum's Inbound Parse URL, `/webhooks/sendgrid/inbound`")
    sender: str = Field(alias="from", description="the sender, `a@b.com` or `Name <a@b.com>`")
    to: str = Field(description="the Continuum address written to")
    text: str = Field("", validation_alias=AliasChoices("text", "body"), description="the text")
    subject: str = ""
    in_reply_to: str | None = Field(None, description="the Message-ID replied to")
    references: str | None = Field(
        None, description="the thread's Message-IDs (default: the parent's, then in_reply_to)"
    )


def authenticate(
    _server: SMTP, _session: Session, _envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """AUTH PLAIN/LOGIN with the sandbox's user and password, compared in constant time."""
    if mechanism not in ("PLAIN", "LOGIN") or not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    ok = hmac.compare_digest(auth_data.login, SANDBOX_USERNAME.encode())
    ok &= hmac.compare_digest(auth_data.password, SANDBOX_PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


def text_part(email: EmailMessage) -> str:
    """The text/plain body of ``email`` (empty when it has none)."""
    part = email.get_body(preferencelist=("plain",))
    return str(part.get_content()).rstrip("\n") if part is not None else ""


class Recorder:
    """aiosmtpd handler: refuses the ``REFUSED`` recipients, records each accepted message."""

    def __init__(self, store: MessageStore) -> None:
        self._store = store
        self.raw: list[bytes] = []
        """Every accepted DATA, as received (what the contract tests compare)."""
        self.envelopes: list[tuple[str, list[str]]] = []
        """Each accepted DATA's MAIL FROM and RCPT TOs."""
        self.references: dict[str, str] = {}
        """Each accepted message's ``References`` header, by its Message-ID."""

    async def handle_RCPT(
        self,
        _server: SMTP,
        _session: Session,
        envelope: Envelope,
        address: str,
        _options: list[str],
    ) -> str:
        local = address.partition("@")[0].lower()
        if local in REFUSED:
            return REFUSED[local]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.raw.append(content)
        self.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
        lines = content.replace(b"\r\n", b"\n")  # SMTP's line ends, as the parser wants them
        email = message_from_bytes(lines, _class=EmailMessage, policy=policy.default)
        sid = str(email.get("Message-ID", "")) or f"<{new_sid('SM')}@sandbox>"
        self.references[sid] = " ".join(str(email.get("References", "")).split())
        for rcpt in envelope.rcpt_tos:
            self._store.add(
                SandboxMessage(
                    sid=sid,
                    account_sid=SANDBOX_USERNAME,
                    to=rcpt,
                    sender=parseaddr(envelope.mail_from or "")[1],
                    body=text_part(email),
                    created_at=datetime.now(UTC),
                    provider="smtp",
                    channel="email",
                    status="sent",
                    subject=str(email.get("Subject", "")),
                )
            )
        return "250 2.0.0 OK: queued as " + sid


def smtp_server(runtime: SandboxRuntime, recorder: Recorder) -> Any:
    """The SMTP server as an async context: listening inside, closed on the way out."""

    def protocol() -> SMTP:
        with warnings.catch_warnings():
            # AUTH without TLS is what the sandbox means to offer (loopback, public password);
            # aiosmtpd warns about it on every connection.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return SMTP(
                recorder,
                hostname="sandbox.continuum.test",
                authenticator=authenticate,
                auth_required=True,
                auth_require_tls=False,
                loop=asyncio.get_running_loop(),
            )

    @asynccontextmanager
    async def serving() -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        config = runtime.config
        server = await loop.create_server(
            protocol,
            config.smtp_host,
            config.smtp_port,
        )
        runtime.ports["smtp"] = server.sockets[0].getsockname()[1]
        try:
            yield
        finally:
            server.close()
            await server.wait_closed()
            runtime.ports.pop("smtp", None)

    return serving


def thread_references(inbound: InboundRequest, known: dict[str, str]) -> str | None:
    """The ``References`` of ``inbound``: as given, else the parent's (when ``known``) and then
    the parent's Message-ID, as a mail client writes them (RFC 5322 3.6.4); None for an email
    that replies to nothing."""
    if inbound.references is not None or not inbound.in_reply_to:
        return inbound.references
    parent = known.get(inbound.in_reply_to, "")
    return " ".join([*parent.split(), inbound.in_reply_to])


def smtp_sandbox(runtime: SandboxRuntime) -> APIRouter:
    """Registers the SMTP server to run with the sandbox's lifespan; ``POST
    /_sandbox/smtp/inbound`` posts a customer's email to the Inbound Parse route."""
    recorder = Recorder(runtime.store)
    runtime.services.append(smtp_server(runtime, recorder))
    router = APIRouter()

    @router.post("/_sandbox/smtp/inbound")
    async def simulate_inbound(inbound: InboundRequest) -> JSONResponse:
        parse = ParseRequest(
            url=inbound.url,
            sender=inbound.sender,
            to=inbound.to,
            subject=inbound.subject,
            text=inbound.text,
            in_reply_to=inbound.in_reply_to,
            references=thread_references(inbound, recorder.references),
        )
        return await post_inbound_parse(runtime.http, parse)

    return router
