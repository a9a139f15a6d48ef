"""The contract every channel adapter implements.

An adapter turns one :class:`OutboundMessage` into one provider API call and returns a
:class:`SendResult`, or raises a :class:`channels.errors.SendError`. It is given its configuration
and a shared ``httpx.AsyncClient``; it never builds its own client, reads the environment or
imports anything from ``orchestrator``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to send: who to, from which address, what text.

    ``message_id`` is Continuum's deterministic id; adapters pass it to providers that accept an
    idempotency key or client reference. ``status_callback`` is where the provider should post
    delivery receipts, when it supports per-message callbacks. ``content`` asks for more than
    text where the medium has it (WhatsApp's templates and reply buttons:
    ``{"kind": "template" | "buttons" | "list", ...}``, see :mod:`channels.meta.send`); None,
    the default, is the text alone, and a provider without such messages ignores it.
    ``subject`` and ``html`` are for media that have them (email): a provider without them
    ignores them; ``thread_id`` names the conversation a reply belongs to (the customer id), for
    providers that thread messages (email's References).
    """

    message_id: str
    to: str
    text: str
    sender: str | None = None
    attachments: tuple[str, ...] = ()
    status_callback: str | None = None
    content: Mapping[str, Any] | None = None
    subject: str | None = None
    html: str | None = None
    thread_id: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the provider accepted: its ids for the message, and its first status."""

    external_ids: tuple[str, ...]
    status: str = "queued"
    raw: dict[str, Any] = field(default_factory=dict)


class ChannelAdapter(Protocol):
    """A provider's send API behind one method."""

    channel_type: ClassVar[str]
    channel: ClassVar[str]
    secret_fields: ClassVar[tuple[str, ...]]

    def __init__(self, config: Any, http: httpx.AsyncClient) -> None: ...

    async def send(self, msg: OutboundMessage) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class FoundSend:
    """A message the provider has, as its list API describes it: a candidate for one of our
    sends whose outcome is unknown (see :class:`Reconcilable`).

    ``marker`` is our message id when the provider echoes one back (SendGrid's custom args);
    None when the provider keeps no reference of ours (Twilio), and the caller then matches
    by ``to``, ``text`` and ``created_at``. ``status`` is the Continuum status
    (``queued``, ``sent``, ``delivered``, ``failed``...).
    """

    external_id: str
    status: str
    to: str
    text: str | None = None
    created_at: datetime | None = None
    marker: str | None = None


@runtime_checkable
class Reconcilable(Protocol):
    """An adapter whose provider can say which messages it received: the reconciler asks it
    about sends whose outcome is unknown (a timeout after the request went out)."""

    async def find_sent(
        self, msg: OutboundMessage, since: datetime, until: datetime
    ) -> Sequence[FoundSend]:
        """The provider's messages that may be ``msg``, created between ``since`` and
        ``until`` (give or take the provider's granularity); raise a retryable
        :class:`channels.errors.SendError` when the provider cannot be asked now."""
        ...
