"""The contact policy again at send time, for a ``message.send`` taken off the outbound queue.

PURE. What may have changed since the decision: consent (an opt-out while the message waited),
the WhatsApp window, the clock (``not_before``, quiet hours). Caps and the loop guard are
counted atomically in Redis (:mod:`orchestrator.state.policy_counters`) from the
:func:`counters_for` list; :func:`over_limit` turns a failed counter into the verdict.

A command carries what was decided and when (``decided_at``, ``consent_basis``, and
``inbound_at``, the customer's last inbound message on the channel as the decision saw it). The
dispatcher may read state older than the decision (the decision worker publishes before it saves),
so send time never blocks for a reason older than ``decided_at``: consent blocks only for a
revocation recorded at or after it, and the WhatsApp window and the reply window count from the
later of the state's and the command's last inbound message. A command without ``decided_at``
(produced by hand) is checked on the state alone.

Order: consent (skipped for opt-out/opt-in confirmations, which must reach a customer who just
sent STOP), the WhatsApp window, ``not_before``, quiet hours, then caps and the loop guard.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from orchestrator.engine.model import CustomerState
from orchestrator.engine.spec import PURPOSES
from orchestrator.policy import consent, quiet_hours
from orchestrator.policy.evaluate import Customer
from orchestrator.policy.history import caps_for, text_hash
from orchestrator.policy.spec import Policy

Action = Literal["send", "block", "defer"]
KEYWORD_PREFIX = "keywords."
_SINGLE_RULES = ("not_before", "loop_guard", "whatsapp.window")


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

    action: Action
    rule: str
    reason: str
    due: datetime | None = None


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


SEND = SendCheck("send", "", "")


def customer_of(state: CustomerState) -> Customer:
    """The recipient as the send-time rules see them (history is counted in Redis instead)."""
    return Customer(state.consent, state.identities, state.timezone, state.last_inbound, ())


def check(policy: Policy, who: Customer, msg: Outgoing, now: datetime) -> SendCheck:
    """Consent, the WhatsApp window, ``not_before`` and quiet hours, at ``now``."""
    if not (msg.policy_rule or "").startswith(KEYWORD_PREFIX):
        ok, why = consent_at_send(policy, who.consent, msg)
        if not ok:
            return SendCheck("block", f"consent.{msg.purpose}", why)
    if msg.channel == "whatsapp" and policy.whatsapp.enforce and not msg.template_name:
        closed = _window_closed(policy, last_inbound(who, msg), now)
        if closed is not None:
            return SendCheck("block", "whatsapp.window", closed)
    if msg.not_before is not None and msg.not_before > now:
        due = msg.not_before
        return SendCheck("defer", "not_before", f"not before {due.isoformat()}", due)
    zones = quiet_hours.zones_for(policy, who.timezone, msg.to)
    inbound = quiet_hours.latest_inbound(who.last_inbound, msg.inbound_at)
    asked_at = now if msg.not_before is not None else (_aware(msg.decided_at) or now)
    if quiet_hours.is_reply(policy, msg.purpose, inbound, asked_at):
        return SEND
    until = quiet_hours.next_allowed(policy, msg.purpose, zones, now)
    if until is not None:
        reason = f"quiet in {', '.join(zones)}; deferred to {until.isoformat()}"
        return SendCheck("defer", f"quiet_hours.{msg.purpose}", reason, until)
    return SEND


def consent_at_send(policy: Policy, current: dict[str, Any], msg: Outgoing) -> tuple[bool, str]:
    """Consent at send time: never stricter than the decision for reasons older than it.

    The state the dispatcher holds may predate the decision (a ``set: consent`` in the same
    event not saved yet), so when the command says when it was decided, only a revocation
    recorded at or after ``decided_at`` blocks it.
    """
    ok, why = consent.check(policy, current, msg.channel, msg.purpose)
    decided = _aware(msg.decided_at)
    if ok or decided is None:
        return ok, why
    if consent.revoked_since(current, msg.channel, msg.purpose, decided) is not None:
        return False, why
    basis = msg.consent_basis or msg.policy_rule or f"consent.{msg.purpose}"
    return True, f"allowed when decided at {decided.isoformat()} ({basis}); no revocation since"


def last_inbound(who: Customer, msg: Outgoing) -> datetime | None:
    """The customer's last inbound message on the message's channel: the later of the state's
    and the one the decision saw."""
    seen = [_aware(msg.inbound_at)]
    raw = who.last_inbound.get(msg.channel)
    if raw:
        with contextlib.suppress(ValueError):
            seen.append(_aware(datetime.fromisoformat(raw)))
    known = [t for t in seen if t is not None]
    return max(known) if known else None


def _aware(at: datetime | None) -> datetime | None:
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=UTC)


def counters_for(policy: Policy, msg: Outgoing) -> list[Counter]:
    """Every count the message must fit: the caps of its purpose, then the loop guard."""
    out = [
        Counter(
            f"cap.{cap.id}",
            "cap",
            f"{cap.id}:{msg.channel if cap.channel == 'each' else 'all'}",
            cap.limit,
            cap.window,
            cap.action,
            f"{cap.limit} {cap.purpose} per {cap.window} reached",
        )
        for cap in caps_for(policy, msg.purpose)
    ]
    d = policy.dedupe
    reason = f"{d.identical_texts} identical texts within {d.identical_within}: sender stopped"
    digest = text_hash(msg.text)
    out.append(
        Counter(
            "loop_guard", "identical", digest, d.identical_texts, d.identical_within, "drop", reason
        )
    )
    return out


def over_limit(counter: Counter, until: datetime) -> SendCheck:
    """The verdict when ``counter`` is full until ``until``: blocked, or deferred to then."""
    if counter.action == "drop":
        return SendCheck("block", counter.rule, counter.reason)
    return SendCheck(
        "defer", counter.rule, f"{counter.reason}; deferred to {until.isoformat()}", until
    )


def rule_label(rule: str) -> str:
    """A bounded metrics label for a rule id: cap ids become ``cap``, odd purposes ``other``."""
    if rule.startswith("cap."):
        return "cap"
    head, _, purpose = rule.partition(".")
    if head in ("consent", "quiet_hours"):
        return f"{head}.{purpose if purpose in PURPOSES else 'other'}"
    return rule if rule in _SINGLE_RULES else "other"


def _window_closed(policy: Policy, last: datetime | None, now: datetime) -> str | None:
    window = policy.whatsapp.session_window
    if last is None:
        return f"no inbound WhatsApp message: the {window} window is closed and no template"
    if now - last > window:
        return f"last inbound {last.isoformat()}: the {window} window has closed and no template"
    return None
