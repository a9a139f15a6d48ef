"""The values the policy's rules read and return, at decision time and at send time.

``evaluate`` and ``send_time`` re-export them; rules (:mod:`orchestrator.policy.rules`) import
them from here, so that the evaluators can import the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from orchestrator.policy.actions import SendAction, VerdictAction
from orchestrator.policy.history import Sent


@dataclass(frozen=True, slots=True)
class Candidate:
    """A message a flow wants to send, before the policy has had its say."""

    channel: str
    to: str
    purpose: str
    template: str
    text_hash: str
    run_id: str = ""
    """The run sending it: a run may repeat its own question; dedupe is across runs."""
    own_template: str | None = None
    """The WhatsApp template the step names for a closed window (its ``whatsapp_template``);
    the policy's ``approved_templates`` entry for the step, when there is one, goes first."""


@dataclass(frozen=True, slots=True)
class Finding:
    """What one rule said."""

    rule: str
    ok: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The policy's decision on a candidate: the rule that decided it, and why."""

    action: VerdictAction
    rule: str
    reason: str
    channel: str
    not_before: datetime | None = None
    template_name: str | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def sends(self) -> bool:
        """Whether a message goes out (now or later)."""
        return self.action != "drop"

    @property
    def consent_basis(self) -> str | None:
        """The reason of the consent finding that let the message through (a fallback's last),
        carried to send time."""
        passed = [f.reason for f in self.findings if f.rule.startswith("consent.") and f.ok]
        return passed[-1] if passed else None


@dataclass(frozen=True, slots=True)
class Customer:
    """What the rules need to know about the recipient."""

    consent: dict[str, Any]
    identities: dict[str, str]
    timezone: str | None
    last_inbound: dict[str, str]
    history: Sequence[Sent]
    support_at: datetime | None = None
    """The latest moment the customer was in a support conversation (``now`` while one is
    open), when the host knows it: see :mod:`orchestrator.policy.rules.support_quiet`."""


class Outgoing(Protocol):
    """What the send-time rules read from a ``message.send`` (``MessageSend`` has it)."""

    @property
    def channel(self) -> str: ...
    @property
    def to(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def purpose(self) -> str: ...
    @property
    def not_before(self) -> datetime | None: ...
    @property
    def template_name(self) -> str | None: ...
    @property
    def policy_rule(self) -> str | None: ...
    @property
    def decided_at(self) -> datetime | None: ...
    @property
    def consent_basis(self) -> str | None: ...
    @property
    def inbound_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class SendCheck:
    """The send-time verdict: ``send`` now, ``block`` for good, or ``defer`` until ``due``."""

    action: SendAction
    rule: str
    reason: str
    due: datetime | None = None


SEND = SendCheck("send", "", "")


@dataclass(frozen=True, slots=True)
class Counter:
    """One sliding-window count a send must fit: a frequency cap or the loop guard."""

    rule: str
    kind: Literal["cap", "identical"]
    scope: str
    """``<cap id>:<channel or all>`` for a cap; the text's digest for the loop guard."""
    limit: int
    window: timedelta
    action: Literal["drop", "defer"]
    reason: str
