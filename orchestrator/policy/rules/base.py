"""What a policy rule is: one object with a decision-time face and a send-time face.

Both evaluators walk :data:`orchestrator.policy.rules.ORDER`. At decision time each rule gets
the :class:`DecisionWalk` (the customer, the candidate, the findings so far) and returns a
:class:`~orchestrator.policy.verdicts.Verdict` that ends the walk, or ``None`` to pass (it may
leave a finding, a template, or a later time for the rules after it). At send time each rule
gets the :class:`SendWalk` (the customer's current state and the queued message) and returns a
:class:`~orchestrator.policy.verdicts.SendCheck` that ends it, or ``None``. A rule with nothing
to check at one of the two times says so in that face's docstring and returns ``None``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal, Protocol

from orchestrator.policy.actions import send_action, verdict_action
from orchestrator.policy.spec import Policy
from orchestrator.policy.verdicts import (
    Candidate,
    Counter,
    Customer,
    Finding,
    Outgoing,
    SendCheck,
    Verdict,
)

Ids = Literal["single", "purpose", "cap"]


class Rule(Protocol):
    """One contact-policy rule."""

    name: ClassVar[str]
    """Its rule id, or the id's head when ``ids`` is ``purpose`` (``consent.marketing``) or
    ``cap`` (``cap.<cap id>``)."""
    ids: ClassVar[Ids]
    labelled: ClassVar[bool]
    """Whether its id is its own ``continuum_policy_total`` ``rule`` label (else ``other``)."""

    def at_decision(self, walk: DecisionWalk) -> Verdict | None: ...

    def at_send(self, walk: SendWalk) -> SendCheck | None: ...


class Counted(Protocol):
    """A rule whose send-time count lives in Redis (atomic across dispatchers)."""

    def counters(self, policy: Policy, msg: Outgoing) -> list[Counter]: ...


@dataclass(slots=True)
class DecisionWalk:
    """One candidate on its way through the rules at decision time."""

    policy: Policy
    who: Customer
    cand: Candidate
    now: datetime
    again: Callable[[Candidate], Verdict]
    """The whole walk for another candidate (the WhatsApp window's fallback channels)."""
    findings: list[Finding] = field(default_factory=list)
    allowed: str = ""
    """Why consent let it through: the reason of a plain allow."""
    template_name: str | None = None
    later: datetime | None = None
    """A cap's deferral: the rules after it judge the message at that time."""
    later_rule: str = "caps"

    def find(self, rule: str, ok: bool, reason: str) -> None:
        """Record what ``rule`` said."""
        self.findings.append(Finding(rule, ok, reason))

    def block(self, rule: str, reason: str) -> Verdict:
        """The verdict that nothing goes on this channel."""
        return Verdict(
            verdict_action("block"), rule, reason, self.cand.channel, findings=tuple(self.findings)
        )

    def defer(self, rule: str, due: datetime) -> Verdict:
        """The verdict that the message goes at ``due``."""
        return Verdict(
            verdict_action("defer"),
            rule,
            f"deferred to {due.isoformat()}",
            self.cand.channel,
            due,
            self.template_name,
            tuple(self.findings),
        )

    def allow(self) -> Verdict:
        """The verdict when every rule passed: named by consent, as a template if one was set."""
        action = verdict_action("template" if self.template_name else "allow")
        return Verdict(
            action,
            f"consent.{self.cand.purpose}",
            self.allowed,
            self.cand.channel,
            None,
            self.template_name,
            tuple(self.findings),
        )


@dataclass(frozen=True, slots=True)
class SendWalk:
    """One queued message on its way through the rules at send time."""

    policy: Policy
    who: Customer
    msg: Outgoing
    now: datetime

    def block(self, rule: str, reason: str) -> SendCheck:
        """The verdict that the message never goes."""
        return SendCheck(send_action("block"), rule, reason)

    def defer(self, rule: str, reason: str, due: datetime) -> SendCheck:
        """The verdict that the message goes at ``due``."""
        return SendCheck(send_action("defer"), rule, reason, due)


def aware(at: datetime | None) -> datetime | None:
    """``at`` with a zone (a naive time is UTC)."""
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=UTC)


def parsed(raw: str | None) -> datetime | None:
    """A stored ISO time, aware; ``None`` when missing or unreadable."""
    if not raw:
        return None
    with contextlib.suppress(ValueError):
        return aware(datetime.fromisoformat(raw))
    return None


def within(last: datetime | None, now: datetime, window: timedelta) -> bool:
    """Whether ``last`` happened no longer than ``window`` before ``now``."""
    return last is not None and now - last <= window
