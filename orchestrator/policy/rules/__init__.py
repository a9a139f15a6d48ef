"""The contact policy's rules, in the one order both evaluators walk.

A rule is one class in this package (:class:`~orchestrator.policy.rules.base.Rule`): its
decision-time face (:func:`orchestrator.policy.evaluate.evaluate`) and its send-time face
(:func:`orchestrator.policy.send_time.check`). The first rule that ends the walk decides.
"""

from __future__ import annotations

from orchestrator.policy.rules.base import Counted, Rule
from orchestrator.policy.rules.caps import Caps
from orchestrator.policy.rules.consent import Consent
from orchestrator.policy.rules.dedupe import DedupeTemplate
from orchestrator.policy.rules.loop_guard import LoopGuard
from orchestrator.policy.rules.not_before import NotBefore
from orchestrator.policy.rules.quiet_hours import QuietHours
from orchestrator.policy.rules.support_quiet import SupportQuiet
from orchestrator.policy.rules.whatsapp_window import WhatsAppWindow
from orchestrator.vocabulary import PURPOSES

CAPS, LOOP_GUARD = Caps(), LoopGuard()

ORDER: tuple[Rule, ...] = (
    # Consent first: without it nothing else matters, and a refusal for consent is the one a
    # customer, an auditor or a regulator asks about. Its reason names a plain allow.
    Consent(),
    # Then the refusals that hold on every channel, before any channel is chosen: the
    # WhatsApp window's fallback would otherwise try every channel only to be refused again.
    SupportQuiet(),
    # The WhatsApp window picks *how* the message goes (free-form, a template, or a fallback
    # channel whose own whole walk then decides): every rule after it judges that choice, and
    # a deferral keeps the template it chose.
    WhatsAppWindow(),
    # Send time only: a message deferred at decision time waits for its time before the clock
    # rules below look at it (quiet hours at release, not at its first delivery).
    NotBefore(),
    # Repeats drop, and a drop must win over a cap's deferral (a runaway message is not
    # deferred to tomorrow): the loop guard and dedupe come before the caps.
    LOOP_GUARD,
    DedupeTemplate(),
    # Caps drop or defer; a deferral is a later time the rules after it judge.
    CAPS,
    # Quiet hours last: they judge the time the message would go, after a cap has moved it.
    QuietHours(),
)

COUNTED: tuple[Counted, ...] = (CAPS, LOOP_GUARD)
"""The rules counted in Redis at send time, after every rule of :data:`ORDER` has passed (a
message takes a slot only when it goes now). One script admits the message to all of them or
to none and names the first full one: a cap before the loop guard, as at send time it always
has (a message over a deferring cap and looping is deferred, to be judged again when due; at
decision time the loop guard is looked at first, above)."""


def rule_label(rule: str) -> str:
    """A bounded metrics label for a rule id: cap ids become ``cap``, odd purposes ``other``."""
    head, _, rest = rule.partition(".")
    for r in ORDER:
        if r.ids == "cap" and head == r.name and rest:
            return r.name
        if r.ids == "purpose" and head == r.name:
            return f"{head}.{rest if rest in PURPOSES else 'other'}"
        if r.ids == "single" and rule == r.name:
            return rule if r.labelled else "other"
    return "other"


__all__ = ["COUNTED", "ORDER", "Rule", "rule_label"]
