"""Decisions are data: what the engine wants done. The executor does it.

Each decision names itself (``kind``, snake_case): the name flow tests, the simulator and the
audit trail use. The executor's ``match`` over :data:`Decision` is exhaustive (mypy checks it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from orchestrator.engine.model import CustomerState
from orchestrator.provenance import Provenance


@dataclass(frozen=True, slots=True)
class Alternate:
    """A fallback channel of a :class:`SendMessage`: its address and the message rendered for
    it, so that the dispatcher can fall back without the engine."""

    channel: str
    to: str
    text: str
    content: Mapping[str, Any] | None = None
    subject: str | None = None
    html: str | None = None


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send ``text`` to ``to`` on ``channel``; ``message_id`` is deterministic.

    ``fallback`` lists further channels, in order, to try if this one cannot deliver.
    """

    kind: ClassVar[str] = "send_message"

    message_id: str
    channel: str
    to: str
    sender: str | None
    text: str
    purpose: str
    flow_id: str
    flow_version: int
    step: str
    fallback: tuple[str, ...] = ()
    language: str | None = None
    not_before: datetime | None = None
    """Deferred by the contact policy (quiet hours, a cap) until then."""
    template_name: str | None = None
    """An approved provider template (WhatsApp outside its window)."""
    policy_rule: str | None = None
    """The policy rule the send was allowed under (its consent basis)."""
    consent_basis: str | None = None
    """Why the consent check passed at decision time (carried to send time)."""
    content: Mapping[str, Any] | None = None
    """Provider content beyond the text: WhatsApp buttons, a list or a template with its
    parameters (see :class:`channels.base.OutboundMessage`); None is the text alone."""
    subject: str | None = None
    """An email's subject (None: the provider's configured default)."""
    html: str | None = None
    """An email's HTML body, beside ``text``."""
    alternates: tuple[Alternate, ...] = ()
    """The ``fallback`` channels that have an address, each rendered for its channel."""
    receipt_timeout_s: float | None = None
    """The step's ``receipt_timeout``: no delivery receipt by then falls back."""

    @property
    def provenance(self) -> Provenance:
        """The flow step that made this decision."""
        return Provenance(self.flow_id, self.flow_version, self.step)


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Fire ``timer_id`` at ``due`` (a ``timer`` event comes back to the engine)."""

    kind: ClassVar[str] = "start_timer"

    timer_id: str
    due: datetime
    purpose: str
    name: str | None = None
    flow_id: str | None = None
    step: str | None = None

    @property
    def provenance(self) -> Provenance:
        """The flow step that made this timer (a timer carries no flow version)."""
        return Provenance(self.flow_id, None, self.step)


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """A timer that is no longer wanted (its wait was resumed another way)."""

    kind: ClassVar[str] = "cancel_timer"

    timer_id: str


@dataclass(frozen=True, slots=True)
class CallHttp:
    """Perform an HTTP request and resume the flow with a ``call_result`` event."""

    kind: ClassVar[str] = "call_http"

    call_id: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: Mapping[str, Any] | None
    timeout_s: float
    flow_id: str
    step: str
    flow_version: int = 0

    @property
    def provenance(self) -> Provenance:
        """The flow step that made this decision."""
        return Provenance(self.flow_id, self.flow_version, self.step)


@dataclass(frozen=True, slots=True)
class HandOff:
    """Hand the conversation to an agent queue."""

    kind: ClassVar[str] = "hand_off"

    task_id: str
    queue: str
    skills: tuple[str, ...]
    priority: int
    note: str | None
    channel: str | None
    flow_id: str
    step: str
    flow_version: int = 0

    @property
    def provenance(self) -> Provenance:
        """The flow step that made this decision."""
        return Provenance(self.flow_id, self.flow_version, self.step)


@dataclass(frozen=True, slots=True)
class ForwardToAgent:
    """A customer's message for the agent who owns their conversation, not for flows."""

    kind: ClassVar[str] = "forward_to_agent"

    forward_id: str
    conversation_id: str
    agent: str | None
    channel: str
    sender: str | None
    recipient: str | None
    text: str
    locale: str | None = None

    @property
    def provenance(self) -> Provenance:
        """No flow made it: the conversation did."""
        return Provenance("conversation", 0, self.conversation_id)


@dataclass(frozen=True, slots=True)
class CancelConversation:
    """The customer's conversation with people ends on their side: they opted out, or a
    ``conversation.cancel`` event said they left. Waiting, it is abandoned; assigned, closed."""

    kind: ClassVar[str] = "cancel_conversation"

    cancel_id: str
    conversation_id: str
    reason: str

    @property
    def provenance(self) -> Provenance:
        """No flow made it: the conversation did."""
        return Provenance("conversation", 0, self.conversation_id)


@dataclass(frozen=True, slots=True)
class EmitEvent:
    """Publish the business event ``event.<name>``."""

    kind: ClassVar[str] = "emit_event"

    event_id: str
    name: str
    data: Mapping[str, Any]
    flow_id: str
    step: str
    flow_version: int = 0

    @property
    def provenance(self) -> Provenance:
        """The flow step that made this decision."""
        return Provenance(self.flow_id, self.flow_version, self.step)


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth recording that is not an action: a flow matched, a guard tripped."""

    code: str
    detail: str = ""
    flow_id: str | None = None
    flow_version: int | None = None
    step: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def provenance(self) -> Provenance:
        """The flow step that made this note (none for a note about no flow)."""
        return Provenance(self.flow_id, self.flow_version, self.step)


Decision = (
    SendMessage
    | StartTimer
    | CancelTimer
    | CallHttp
    | HandOff
    | EmitEvent
    | ForwardToAgent
    | CancelConversation
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """Everything one event produced: decisions to execute, the new state, and notes."""

    decisions: tuple[Decision, ...]
    state: CustomerState
    notes: tuple[Note, ...] = ()
    trace: tuple[tuple[str, int, str], ...] = ()
    """Every step executed, in order, as (flow id, flow version, step id)."""


def derive_id(prefix: str, *parts: str) -> str:
    """A deterministic id from its parts, so a redelivered event yields the same ids."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{prefix}_{digest}"


def stable_fraction(*parts: str) -> float:
    """A number in [0, 1) from a stable hash of ``parts`` (for A/B splits)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
