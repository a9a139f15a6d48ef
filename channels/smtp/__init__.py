"""SMTP email: one message per send, handed to an SMTP server with ``aiosmtplib``.

SMTP knows nothing after the hand-off, so a ``250`` accept is ``sent`` and no status webhook
exists; inbound email arrives as ``message.received`` on ``continuum.inbound.email`` from
whatever receives it (an inbound-parse route, or a client publishing to the topic). The
``Message-ID`` is made from our message id, so a retried send is the same message, and
``References``/``In-Reply-To`` name a per-conversation root so replies thread in mail clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any, ClassVar, Literal

import aiosmtplib
import httpx
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from channels.base import OutboundMessage, SendResult
from channels.errors import (
    ChannelConfigInvalid,
    ConnectionFailed,
    RejectedWithReason,
    SendError,
    Throttled,
)
from channels.provider import Provider
from channels.smtp.sandbox import (
    SANDBOX_PASSWORD,
    SANDBOX_SMTP_PORT,
    SANDBOX_USERNAME,
    smtp_sandbox,
)
from channels.webhooks import WebhookContext

__all__ = [
    "ERROR_CODES",
    "SMTP",
    "STATUS_MAP",
    "SmtpEmail",
    "SmtpSettings",
    "build_message",
    "message_id",
    "rejection",
    "smtp_webhooks",
    "verify",
]

STATUS_MAP: Mapping[str, str] = {"250": "sent"}
"""The one status SMTP gives: the server's ``250`` accept of the DATA → ``sent``."""

ERROR_CODES: Mapping[str, type[SendError]] = {
    "421": Throttled,  # service not available, closing channel (often: too many connections)
    "450": ConnectionFailed,  # mailbox unavailable (busy, greylisted): try again
    "451": Throttled,  # local error in processing / rate limited: try again later
    "452": Throttled,  # insufficient storage / too many recipients this session
    "454": ChannelConfigInvalid,  # TLS not available / temporary authentication failure
    "530": ChannelConfigInvalid,  # authentication required
    "534": ChannelConfigInvalid,  # authentication mechanism too weak
    "535": ChannelConfigInvalid,  # authentication credentials invalid
    "538": ChannelConfigInvalid,  # encryption required for the mechanism
}
"""SMTP reply codes → SendError; any other 4xx is ConnectionFailed (retryable), any other 5xx
RejectedWithReason with the code (550 mailbox unavailable / user unknown, 551, 552 message too
big, 553 bad mailbox name, 554 transaction failed ...)."""


class SmtpSettings(BaseModel):
    """``CONTINUUM_SMTP__*``; the defaults point at the sandbox's SMTP server."""

    model_config = ConfigDict(frozen=True)

    host: str = Field("127.0.0.1", description="SMTP server host (follows the sandbox host)")
    port: int = Field(
        SANDBOX_SMTP_PORT,
        ge=1,
        le=65535,
        description="SMTP server port (587 submission, 465 implicit TLS; follows "
        "CONTINUUM_SANDBOX__SMTP_PORT)",
    )
    username: str = Field(SANDBOX_USERNAME, description="AUTH user; empty: no AUTH")
    password: SecretStr = Field(SecretStr(SANDBOX_PASSWORD), description="AUTH password")
    use_tls: bool = Field(False, description="implicit TLS from the first byte (port 465)")
    starttls: Literal["auto", "always", "never"] = Field(
        "auto",
        description="STARTTLS: auto (when the server offers it), always (fail if it does not), "
        "never; ignored with use_tls",
    )
    timeout_s: float = Field(10.0, gt=0, le=300, description="timeout of each SMTP step")
    from_email: str = Field("support@continuum.test", description="From address")
    from_name: str = Field("Continuum", description="From display name; empty: the address")
    message_id_domain: str = Field(
        "continuum.test", description="right side of the Message-IDs we make"
    )
    reply_to: str | None = Field(None, description="Reply-To address, when replies go elsewhere")
    subject: str = Field("Message from Continuum", description="subject when a message has none")


def message_id(our_id: str, domain: str) -> str:
    """The ``Message-ID`` of our message ``our_id``: the same on every try of one send."""
    return f"<{our_id}@{domain}>"


def build_message(msg: OutboundMessage, config: SmtpSettings) -> EmailMessage:
    """``msg`` as an email: From, To, Subject, Message-ID, threading, text (and html) parts."""
    email = EmailMessage()
    sender = msg.sender or config.from_email
    email["From"] = formataddr((config.from_name, sender)) if config.from_name else sender
    email["To"] = msg.to
    email["Subject"] = msg.subject or config.subject
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["Message-ID"] = message_id(msg.message_id, config.message_id_domain)
    if msg.thread_id:
        root = message_id(f"conv-{msg.thread_id}", config.message_id_domain)
        email["In-Reply-To"] = root
        email["References"] = root
    if config.reply_to:
        email["Reply-To"] = config.reply_to
    email.set_content(msg.text)
    if msg.html:
        email.add_alternative(msg.html, subtype="html")
    return email


def rejection(code: int, text: str) -> SendError:
    """An SMTP reply ``code`` the server refused with, as its SendError."""
    kind = ERROR_CODES.get(str(code))
    detail = f"smtp {code}: {text}"
    if kind is Throttled:
        return Throttled(detail, status_code=code)
    if kind is not None:
        return kind(detail, status_code=code)
    if 400 <= code < 500:
        return ConnectionFailed(detail, status_code=code)
    return RejectedWithReason(str(code), text, status_code=code)


class SmtpEmail:
    """Sends one email through an SMTP server (``aiosmtplib``); ignores the shared ``http``."""

    channel_type: ClassVar[str] = "email.smtp"
    channel: ClassVar[str] = "email"
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)

    def __init__(self, config: SmtpSettings, http: httpx.AsyncClient | None = None) -> None:
        self._config = config

    async def send(self, msg: OutboundMessage) -> SendResult:
        c = self._config
        if not c.host or not c.from_email or not c.message_id_domain:
            raise ChannelConfigInvalid("smtp host, from_email and message_id_domain")
        password = c.password.get_secret_value()
        if bool(c.username) != bool(password):
            raise ChannelConfigInvalid("smtp username and password: both or neither")
        email = build_message(msg, c)
        starttls = {"auto": None, "always": True, "never": False}[c.starttls]
        try:
            _refused, reply = await aiosmtplib.send(
                email,
                hostname=c.host,
                port=c.port,
                username=c.username or None,
                password=password or None,
                use_tls=c.use_tls,
                start_tls=False if c.use_tls else starttls,
                timeout=c.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            raise rejection(first.code, first.message) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise rejection(exc.code, exc.message) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise ConnectionFailed(f"smtp {type(exc).__name__}: {exc}") from None
        mid = email["Message-ID"]
        return SendResult(external_ids=(mid,), status="sent", raw={"reply": reply})


def verify(*_args: Any, **_kwargs: Any) -> bool:
    """SMTP has no webhooks, so nothing is ever signed: nothing verifies (always False)."""
    return False


def smtp_webhooks(_config: SmtpSettings, _ctx: WebhookContext) -> APIRouter:
    """None: SMTP has no status callbacks, and inbound email comes on the inbound topic."""
    return APIRouter()


SMTP = Provider(
    name="smtp",
    medium="email",
    adapter=SmtpEmail,
    settings=SmtpSettings,
    settings_key="smtp",
    webhooks=smtp_webhooks,
    sandbox=smtp_sandbox,
    verify=verify,
    status_map=STATUS_MAP,
    error_codes=ERROR_CODES,
    status_path=None,
)
