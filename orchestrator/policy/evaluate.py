"""One candidate send through every rule: the verdict, and each rule's finding.

Order: consent (no consent, no message), the WhatsApp window (a template or another
channel), the loop guard and dedupe (drop), caps (drop or defer), quiet hours (defer; not for
a service or transactional reply within ``reply_window`` of the customer's own message).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from orchestrator.policy import consent, quiet_hours
from orchestrator.policy.history import Sent, caps_for, over_cap
from orchestrator.policy.spec import Policy

Action = Literal["allow", "defer", "drop", "template"]


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

    action: Action
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


@dataclass(frozen=True, slots=True)
class Customer:
    """What the rules need to know about the recipient."""

    consent: dict[str, Any]
    identities: dict[str, str]
    timezone: str | None
    last_inbound: dict[str, str]
    history: Sequence[Sent]


def evaluate(policy: Policy, who: Customer, cand: Candidate, now: datetime) -> Verdict:
    """Decide on one candidate send at ``now``."""
    findings: list[Finding] = []
    ok, why = consent.check(policy, who.consent, cand.channel, cand.purpose)
    findings.append(Finding(f"consent.{cand.purpose}", ok, why))
    if not ok:
        return Verdict(
            "drop", f"consent.{cand.purpose}", why, cand.channel, findings=tuple(findings)
        )
    template_name = None
    if cand.channel == "whatsapp" and policy.whatsapp.enforce:
        outcome = _whatsapp(policy, who, cand, now, findings)
        if isinstance(outcome, Verdict):
            return outcome
        template_name = outcome
    blocked = _repeats(policy, who.history, cand, now, findings)
    if blocked is not None:
        return replace(blocked, findings=tuple(findings))
    later = _caps(policy, who.history, cand, now, findings)
    if isinstance(later, Verdict):
        return replace(later, findings=tuple(findings))
    zones = quiet_hours.zones_for(policy, who.timezone, cand.to)
    inbound = quiet_hours.latest_inbound(who.last_inbound)
    if later is None and quiet_hours.is_reply(policy, cand.purpose, inbound, now):
        quiet_until = None
        reply = f"a reply within {policy.quiet_hours.reply_window} of the customer's message"
        findings.append(Finding(f"quiet_hours.{cand.purpose}", True, f"{reply}: not held"))
    else:
        quiet_until = quiet_hours.next_allowed(policy, cand.purpose, zones, later or now)
        findings.append(
            Finding(
                f"quiet_hours.{cand.purpose}",
                quiet_until is None,
                f"quiet in {', '.join(zones)} until {quiet_until.isoformat()}"
                if quiet_until
                else f"not quiet in {', '.join(zones)}",
            )
        )
    if quiet_until is not None and quiet_until >= (later or now) + quiet_hours.NO_ALLOWED_TIME:
        reason = (
            f"no time in the next {quiet_hours.NO_ALLOWED_TIME.days} days is outside "
            f"quiet hours in every possible zone ({', '.join(zones)})"
        )
        return Verdict(
            "drop", f"quiet_hours.{cand.purpose}", reason, cand.channel, findings=tuple(findings)
        )
    due = quiet_until or later
    if due is not None:
        cap_rule = next(
            (f.rule for f in findings if f.rule.startswith("cap.") and not f.ok), "caps"
        )
        rule = f"quiet_hours.{cand.purpose}" if quiet_until else cap_rule
        return Verdict(
            "defer",
            rule,
            f"deferred to {due.isoformat()}",
            cand.channel,
            due,
            template_name,
            tuple(findings),
        )
    action: Action = "template" if template_name else "allow"
    return Verdict(
        action, f"consent.{cand.purpose}", why, cand.channel, None, template_name, tuple(findings)
    )


def _whatsapp(
    policy: Policy, who: Customer, cand: Candidate, now: datetime, findings: list[Finding]
) -> Verdict | str | None:
    last = who.last_inbound.get("whatsapp")
    window = policy.whatsapp.session_window
    if last and now - datetime.fromisoformat(last) <= window:
        findings.append(Finding("whatsapp.window", True, f"last inbound {last}, within {window}"))
        return None
    approved = policy.whatsapp.approved_templates.get(cand.template) or cand.own_template
    if approved:
        findings.append(
            Finding(
                "whatsapp.window",
                True,
                f"outside the {window} window: approved template {approved}",
            )
        )
        return approved
    for channel in policy.whatsapp.fallback_channels:
        address = who.identities.get(channel)
        if address is None or channel == cand.channel:  # whatsapp falling back to itself recurses
            continue
        verdict = evaluate(policy, who, replace(cand, channel=channel, to=address), now)
        if verdict.sends:
            findings.append(
                Finding(
                    "whatsapp.window",
                    False,
                    f"outside the {window} window: falls back to {channel}",
                )
            )
            return replace(verdict, findings=(*findings, *verdict.findings))
    reason = f"outside the {window} window, no approved template, no fallback channel"
    findings.append(Finding("whatsapp.window", False, reason))
    return Verdict("drop", "whatsapp.window", reason, cand.channel, findings=tuple(findings))


def _repeats(
    policy: Policy,
    history: Sequence[Sent],
    cand: Candidate,
    now: datetime,
    findings: list[Finding],
) -> Verdict | None:
    d = policy.dedupe
    same = [s for s in history if s.text_hash == cand.text_hash and s.at > now - d.identical_within]
    if len(same) >= d.identical_texts:
        reason = f"{len(same)} identical texts within {d.identical_within}: the sender is stopped"
        findings.append(Finding("loop_guard", False, reason))
        return Verdict("drop", "loop_guard", reason, cand.channel)
    findings.append(Finding("loop_guard", True, f"{len(same)} identical texts recently"))
    recent = [
        s
        for s in history
        if s.template == cand.template
        and s.at > now - d.same_template_within
        and not (cand.run_id and s.run_id == cand.run_id)
    ]
    if recent:
        reason = (
            f"the same template was sent {recent[-1].at.isoformat()} (within "
            f"{d.same_template_within})"
        )
        findings.append(Finding("dedupe.template", False, reason))
        return Verdict("drop", "dedupe.template", reason, cand.channel)
    findings.append(Finding("dedupe.template", True, "not sent recently"))
    return None


def _caps(
    policy: Policy,
    history: Sequence[Sent],
    cand: Candidate,
    now: datetime,
    findings: list[Finding],
) -> Verdict | datetime | None:
    later: datetime | None = None
    for cap in caps_for(policy, cand.purpose):
        until = over_cap(cap, cand.purpose, cand.channel, history, now)
        rule = f"cap.{cap.id}"
        if until is None:
            findings.append(Finding(rule, True, f"under {cap.limit} per {cap.window}"))
            continue
        reason = f"{cap.limit} {cap.purpose} per {cap.window} reached"
        findings.append(Finding(rule, False, reason))
        if cap.action == "drop" or cap.limit == 0:  # deferring past a cap of 0 never ends
            return Verdict("drop", rule, reason, cand.channel)
        later = max(later or until, until)
    return later
