"""Agents and the conversations waiting for them, as the router sees them. PURE."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Presence = Literal["available", "busy", "away", "offline"]

Status = Literal["waiting", "offered", "assigned", "closed"]


@dataclass(slots=True)
class Agent:
    """One agent: skills (name to proficiency 1-5), capacity, presence and what it holds."""

    id: str
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: int = 100
    presence: Presence = "offline"
    load: int = 0
    """The capacity its conversations and outstanding offers take."""
    idle_since: datetime | None = None
    """When it last became available or was last given a conversation: the fairness clock."""
    holding: set[str] = field(default_factory=set)
    offers: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Offer:
    """An outstanding offer of a conversation to one agent."""

    agent: str
    target: str
    cost: int
    expires_at: datetime


@dataclass(slots=True)
class Conversation:
    """A conversation handed to people: where it waits, who may take it, who holds it."""

    id: str
    queue: str
    channel: str
    arrived_at: datetime
    """When it first reached a queue (waits and the service level count from here)."""
    customer_id: str = ""
    priority: int = 0
    skills: tuple[str, ...] = ()
    """Skills the conversation itself needs (its ``route`` step's), at proficiency 1 or more."""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    """What rules match on: intent, language, tier, flow fields."""
    last_agent: str | None = None
    last_agent_at: datetime | None = None
    queued_at: datetime | None = None
    """When it entered its current queue (the bullseye's clock)."""
    rule: str = ""
    base_priority: int = 0
    passed: set[str] = field(default_factory=set)
    """Agents who rejected it or let its offer time out: not offered it again in this queue."""
    pinned: str | None = None
    """A transfer to one agent: only that agent is offered it, once."""
    status: Status = "waiting"
    offer: Offer | None = None
    agent: str | None = None
    cost: int = 0

    def view(self) -> dict[str, Any]:
        """What a rule's ``when`` sees as ``conversation``."""
        return {
            **self.attributes,
            "channel": self.channel,
            "skills": list(self.skills),
            "priority": self.priority,
            "queue": self.queue,
            "customer_id": self.customer_id,
        }
