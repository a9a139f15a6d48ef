"""The sandbox's SMTP server (``aiosmtpd``, in the sandbox's event loop): AUTH PLAIN/LOGIN with
the sandbox credentials, each accepted message recorded in the store (provider ``smtp``).

It listens on ``SandboxConfig.smtp_host``/``smtp_port`` (``CONTINUUM_SANDBOX__SMTP_PORT``, 8025;
0: a free port, then ``runtime.ports["smtp"]`` says which) from the sandbox's lifespan. Plain
text only: AUTH is allowed without TLS (``auth_require_tls=False``), as it is on loopback; no
STARTTLS. Recipients whose local part is ``bounce`` are refused ``550``, ``rejected`` ``554``,
``busy`` ``451``, ``full`` ``452`` (``REFUSED``), so tests see the SMTP error mapping. No
inbound simulator: SMTP has no inbound HTTP route to post to (inbound email is published to
``continuum.inbound.email``).
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

from channels.sandbox.runtime import SandboxRuntime
from channels.sandbox.store import MessageStore, SandboxMessage, new_sid

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


def smtp_sandbox(runtime: SandboxRuntime) -> APIRouter:
    """No HTTP routes: registers the SMTP server to run with the sandbox's lifespan."""
    runtime.services.append(smtp_server(runtime, Recorder(runtime.store)))
    return APIRouter()
