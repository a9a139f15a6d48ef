"""What routing decides, as data: each is one ledger step (``step``) and one metric event. PURE.

Every decision names the conversation and its queue; those that involve an agent name it, and
offers and assignments name the rule and the bullseye ring (``target``) that reached the agent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Step:
    """One routing step, of a conversation or of an agent."""

    step: ClassVar[str]

    def fields(self) -> dict[str, Any]:
        """The decision as a ledger record's details (times as ISO 8601, waits in seconds)."""
        out: dict[str, Any] = {"step": self.step}
        for key, value in asdict(self).items():
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, timedelta):
                value = value.total_seconds()
            out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class Decision(Step):
    """A step of one conversation."""

    conversation: str
    queue: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Queued(Decision):
    """The conversation waits in ``queue`` under ``rule``, at ``priority``."""

    step: ClassVar[str] = "queued"
    rule: str
    priority: int


@dataclass(frozen=True, slots=True)
class Offered(Decision):
    """The conversation is offered to ``agent`` until ``expires_at``."""

    step: ClassVar[str] = "offered"
    agent: str
    rule: str
    target: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class OfferTimedOut(Decision):
    """``agent`` did not answer in time: it is set away, and the conversation goes on."""

    step: ClassVar[str] = "offer_timeout"
    agent: str


@dataclass(frozen=True, slots=True)
class OfferRejected(Decision):
    """``agent`` passed the conversation on."""

    step: ClassVar[str] = "offer_rejected"
    agent: str


@dataclass(frozen=True, slots=True)
class OfferWithdrawn(Decision):
    """The offer to ``agent`` ended without an answer: ``reason`` says why (the agent left, the
    customer stopped waiting)."""

    step: ClassVar[str] = "offer_withdrawn"
    agent: str
    reason: str


@dataclass(frozen=True, slots=True)
class Assigned(Decision):
    """``agent`` accepted: it owns the conversation. ``waited`` is from first arrival."""

    step: ClassVar[str] = "assigned"
    agent: str
    rule: str
    target: str
    waited: timedelta


@dataclass(frozen=True, slots=True)
class Overflowed(Decision):
    """The conversation waited too long in ``queue`` and moves to ``to_queue``."""

    step: ClassVar[str] = "overflowed"
    to_queue: str
    waited: timedelta


@dataclass(frozen=True, slots=True)
class Transferred(Decision):
    """``agent`` handed the conversation to ``to_queue`` (and, when named, ``to_agent``)."""

    step: ClassVar[str] = "transferred"
    agent: str
    to_queue: str
    to_agent: str | None


@dataclass(frozen=True, slots=True)
class WrappedUp(Decision):
    """``agent`` finished with a disposition code."""

    step: ClassVar[str] = "wrapped_up"
    agent: str
    disposition: str


@dataclass(frozen=True, slots=True)
class Closed(Decision):
    """The conversation is back with automation (a flow may trigger on it)."""

    step: ClassVar[str] = "closed"
    agent: str | None
    disposition: str | None


@dataclass(frozen=True, slots=True)
class Abandoned(Decision):
    """The customer stopped waiting after ``waited``."""

    step: ClassVar[str] = "abandoned"
    waited: timedelta


@dataclass(frozen=True, slots=True)
class ClosedHours(Decision):
    """The conversation arrived while ``queue`` was closed: ``action`` is what it gets."""

    step: ClassVar[str] = "closed_hours"
    action: str
    flow: str | None


@dataclass(frozen=True, slots=True)
class RuleFailed(Decision):
    """A rule's ``when`` could not be evaluated for the conversation; the next rule was tried."""

    step: ClassVar[str] = "rule_failed"
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class PresenceChanged(Step):
    """Routing changed an agent's presence (an offer it let time out sets it away)."""

    step: ClassVar[str] = "presence"
    agent: str
    presence: str
    reason: str
    at: datetime


def when(step: Step) -> datetime:
    """When a step was decided (every kind has an ``at`` of its own)."""
    if isinstance(step, Decision | PresenceChanged):
        return step.at
    raise TypeError(f"{type(step).__name__} has no time")
