"""The engine's inputs: a customer's state, the event being decided, and the injected context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

APPLIED_EVENTS_KEPT = 64
"""How many recent event ids a state remembers, so that a redelivered event is not applied twice."""

EventKind = Literal["message", "event", "timer", "call_result", "status", "schedule", "agent_reply"]


@dataclass(frozen=True, slots=True)
class Frame:
    """A parent flow waiting for a subflow to finish: where to continue when it does."""

    flow_id: str
    flow_version: int
    return_step: str | None


@dataclass(frozen=True, slots=True)
class Run:
    """One customer's progress through a flow (and the flows it called as subflows).

    ``waiting`` says what resumes it: ``reply``, ``timer``, ``event:<name>`` or ``call``.
    """

    run_id: str
    flow_id: str
    flow_version: int
    started_at: str
    step: str | None = None
    waiting: str | None = None
    timer_id: str | None = None
    call_id: str | None = None
    expires_at: str | None = None
    channel: str | None = None
    visits: dict[str, int] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    stack: tuple[Frame, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        doc = asdict(self)
        doc["stack"] = [asdict(f) for f in self.stack]
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Run:
        """The inverse of :meth:`to_dict`."""
        data = dict(doc)
        data["stack"] = tuple(Frame(**f) for f in data.get("stack", ()))
        return cls(**data)


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
    identities: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    stage: str | None = None
    preferred_channel: str | None = None
    language: str | None = None
    timezone: str | None = None
    consent: dict[str, Any] = field(default_factory=dict)
    """Per channel (or ``all``) and purpose (or ``all``): ``{status, source, at}``."""
    last_inbound: dict[str, str] = field(default_factory=dict)
    """When the customer last wrote on each channel (the WhatsApp window)."""
    sent_log: tuple[dict[str, str], ...] = ()
    """Recent messages to the customer, for caps and dedupe at decision time."""
    run: Run | None = None
    suspended: Run | None = None
    """A run set aside by an interrupting flow; it resumes when that flow ends."""
    flow_history: dict[str, str] = field(default_factory=dict)
    merged_into: str | None = None
    """The customer this one was merged into (``identity.merged``); set, it stays empty."""
    conversation: dict[str, Any] | None = None
    """The conversation an agent owns (``{id, queue, agent, channel}``): while it is set, the
    customer's messages go to the agent, not to flows (:mod:`orchestrator.engine.conversations`)."""

    def to_dict(self) -> dict[str, Any]:
        """A plain-JSON form for storage."""
        doc = {k: getattr(self, k) for k in self.__slots__}
        doc["applied"] = list(self.applied)
        doc["tags"] = list(self.tags)
        doc["sent_log"] = list(self.sent_log)
        doc["run"] = self.run.to_dict() if self.run else None
        doc["suspended"] = self.suspended.to_dict() if self.suspended else None
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CustomerState:
        """The inverse of :meth:`to_dict`; unknown keys are ignored, missing ones default."""
        known = {k: doc[k] for k in cls.__slots__ if k in doc}
        known["applied"] = tuple(known.get("applied", ()))
        known["tags"] = tuple(known.get("tags", ()))
        known["fields"] = dict(known.get("fields") or {})
        known["identities"] = dict(known.get("identities") or {})
        known["consent"] = dict(known.get("consent") or {})
        known["last_inbound"] = dict(known.get("last_inbound") or {})
        known["sent_log"] = tuple(known.get("sent_log") or ())
        known["flow_history"] = dict(known.get("flow_history") or {})
        for key in ("run", "suspended"):
            run = known.get(key)
            known[key] = Run.from_dict(run) if run else None
        return cls(**known)


def retag(tags: Sequence[str], add: Sequence[str], remove: Sequence[str]) -> tuple[str, ...]:
    """``tags`` without those in ``remove``, then those of ``add`` it lacks, in order (the
    ``set`` step's ``add_tags``/``remove_tags`` and the ``tag`` step)."""
    kept = [t for t in tags if t not in remove]
    kept += [t for t in add if t not in kept]
    return tuple(kept)


@dataclass(frozen=True, slots=True)
class Event:
    """Anything that happens to a customer, as the engine sees it.

    - ``message``: ``channel``, ``sender``, ``recipient``, ``text``;
    - ``event``: a business event ``name`` with ``data``;
    - ``timer``: ``timer_id`` fired (``name`` for named timers);
    - ``call_result``: ``data`` holds ``call_id``, ``status``, ``json``, ``text``, ``error``;
    - ``status``: ``name`` is the delivery status, ``channel`` the channel, ``sender`` the
      address the message went to, ``data`` details;
    - ``schedule``: ``name`` is the scheduled flow's id;
    - ``agent_reply``: ``data`` holds the ``conversation_id``, the ``agent`` and its ``text``.
    """

    event_id: str
    kind: EventKind = "message"
    channel: str | None = None
    sender: str | None = None
    recipient: str | None = None
    text: str = ""
    locale: str | None = None
    name: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    timer_id: str | None = None
    new_customer: bool = False


def message(
    event_id: str, channel: str, sender: str, text: str, recipient: str | None = None, **kw: Any
) -> Event:
    """An inbound message event."""
    return Event(event_id, "message", channel, sender, recipient, text, **kw)


@dataclass(frozen=True, slots=True)
class Context:
    """What the host injects: the current time (the engine never reads a clock)."""

    now: datetime
