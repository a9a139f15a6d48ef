"""In-memory record of the messages the sandbox accepted, in arrival order."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


def new_sid(prefix: str) -> str:
    """Return a Twilio-style sid: a two-letter prefix and 32 lowercase hex digits."""
    return f"{prefix}{random.getrandbits(128):032x}"


@dataclass(slots=True)
class SandboxMessage:
    """One accepted outbound message; ``status`` and ``callbacks`` change as callbacks go out."""

    sid: str
    account_sid: str
    to: str
    sender: str
    body: str
    created_at: datetime
    media_urls: tuple[str, ...] = ()
    status_callback: str | None = None
    provider: str = "twilio"
    channel: str = "sms"
    """The medium the message went out on: sms, whatsapp, email, webchat or webhook."""
    status: str = "queued"
    callbacks: list[str] = field(default_factory=list)
    received_at: float = field(default_factory=time.time)
    """When the provider request arrived (Unix seconds): what `continuum bench` times to."""
    subject: str | None = None
    """An email's Subject (listed only when set)."""

    def summary(self) -> dict[str, Any]:
        """Return the JSON object ``GET /_sandbox/messages`` lists for this message: the common
        keys (``id``, ``provider``, ``channel``, ``to``, ``from``, ``body``, ``status``,
        ``callbacks``, ``created_at``) and the older ones (``sid`` is ``id``, ``media_urls``,
        ``status_callback``, ``received_at``) that tests and ``continuum bench`` read."""
        return {
            "id": self.sid,
            "sid": self.sid,
            "provider": self.provider,
            "channel": self.channel,
            "to": self.to,
            "from": self.sender,
            "body": self.body,
            "media_urls": list(self.media_urls),
            "status": self.status,
            "status_callback": self.status_callback,
            "callbacks": list(self.callbacks),
            "created_at": self.created_at.isoformat(),
            "received_at": self.received_at,
            **({"subject": self.subject} if self.subject is not None else {}),
        }


class MessageStore:
    """Accepted messages in order; the sandbox keeps them until cleared."""

    def __init__(self) -> None:
        self._messages: list[SandboxMessage] = []

    def add(self, message: SandboxMessage) -> None:
        """Record an accepted message."""
        self._messages.append(message)

    def clear(self) -> int:
        """Forget every message; return how many there were."""
        count = len(self._messages)
        self._messages.clear()
        return count

    def matching(
        self, provider: str | None = None, channel: str | None = None, to: str | None = None
    ) -> list[SandboxMessage]:
        """The messages, in order, whose ``provider``, ``channel`` and ``to`` equal each given
        value exactly (``to`` as the provider received it: no normalising)."""
        return [
            m
            for m in self._messages
            if (provider is None or m.provider == provider)
            and (channel is None or m.channel == channel)
            and (to is None or m.to == to)
        ]

    def __iter__(self) -> Iterator[SandboxMessage]:
        return iter(list(self._messages))


class ListingUnavailable(Exception):
    """Raised by a :class:`Listing` that cannot read its messages now (its store is down)."""


class Listing(Protocol):
    """Messages a fake lists that live outside :class:`MessageStore` (the web chat's mailboxes
    in Redis), listed beside the store's at ``GET /_sandbox/messages``."""

    provider: str

    async def matching(
        self, channel: str | None = None, to: str | None = None
    ) -> list[SandboxMessage]:
        """Its messages whose ``channel`` and ``to`` equal each given value; raises
        :class:`ListingUnavailable` when they cannot be read."""
        ...

    async def clear(self) -> int:
        """Stop listing every message listed so far; how many that was."""
        ...
