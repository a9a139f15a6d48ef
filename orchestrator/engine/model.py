"""The engine's inputs: a customer's state, the event being decided, and the injected context."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

APPLIED_EVENTS_KEPT = 64
"""How many recent event ids a state remembers, so that a redelivered event is not applied twice."""


@dataclass(frozen=True, slots=True)
class CustomerState:
    """What Continuum remembers about one customer, across every channel."""

    customer_id: str
    last_channel: str | None = None
    last_contact: str | None = None
    message_count: int = 0
    current_flow: str | None = None
    applied: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain-JSON form for storage."""
        return {
            "customer_id": self.customer_id,
            "last_channel": self.last_channel,
            "last_contact": self.last_contact,
            "message_count": self.message_count,
            "current_flow": self.current_flow,
            "applied": list(self.applied),
            "fields": self.fields,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> CustomerState:
        """The inverse of :meth:`to_dict`; unknown keys are ignored."""
        return cls(
            customer_id=str(doc["customer_id"]),
            last_channel=doc.get("last_channel"),
            last_contact=doc.get("last_contact"),
            message_count=int(doc.get("message_count", 0)),
            current_flow=doc.get("current_flow"),
            applied=tuple(doc.get("applied", ())),
            fields=dict(doc.get("fields") or {}),
        )


@dataclass(frozen=True, slots=True)
class Inbound:
    """An inbound message, as the engine sees it."""

    event_id: str
    channel: str
    sender: str
    recipient: str | None
    text: str
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """What the host injects: the current time (the engine never reads a clock)."""

    now: datetime
