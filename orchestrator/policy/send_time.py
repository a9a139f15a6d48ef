"""The contact policy at send time: the pure rules the dispatcher applies before it sends.

The dispatcher (``orchestrator.workers.dispatcher``) calls :func:`check` on the customer's
*current* state: an opt-out may have arrived while the message waited in the queue, the
WhatsApp window may have closed, and the clock has moved. Caps and the loop guard need counts
that are atomic across dispatchers, so they are counted in Redis
(``orchestrator.state.policy_counters``) from :func:`counters_for`, after :func:`check` passes.
The rules and their order are :data:`orchestrator.policy.rules.ORDER` (consent, skipped for
keyword confirmations so they reach a customer who just sent STOP; the WhatsApp window;
``not_before``; quiet hours), then :data:`~orchestrator.policy.rules.COUNTED`.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.policy.actions import SendAction as Action
from orchestrator.policy.actions import send_action
from orchestrator.policy.rules import COUNTED, ORDER, rule_label
from orchestrator.policy.rules.base import SendWalk
from orchestrator.policy.rules.consent import KEYWORD_PREFIX, consent_at_send
from orchestrator.policy.rules.whatsapp_window import last_inbound
from orchestrator.policy.spec import Policy
from orchestrator.policy.verdicts import SEND, Counter, Customer, Outgoing, SendCheck

__all__ = [
    "KEYWORD_PREFIX",
    "SEND",
    "Action",
    "Counter",
    "Outgoing",
    "SendCheck",
    "check",
    "consent_at_send",
    "counters_for",
    "last_inbound",
    "over_limit",
    "rule_label",
]


def check(policy: Policy, who: Customer, msg: Outgoing, now: datetime) -> SendCheck:
    """Every rule's send-time face, in order, at ``now``: the first verdict, else ``send``."""
    walk = SendWalk(policy, who, msg, now)
    for rule in ORDER:
        verdict = rule.at_send(walk)
        if verdict is not None:
            return verdict
    return SEND


def counters_for(policy: Policy, msg: Outgoing) -> list[Counter]:
    """Every count the message must fit: the caps of its purpose, then the loop guard."""
    return [c for rule in COUNTED for c in rule.counters(policy, msg)]


def over_limit(counter: Counter, until: datetime) -> SendCheck:
    """The verdict when ``counter`` is full until ``until``: blocked, or deferred to then."""
    if counter.action == "drop":
        return SendCheck(send_action("block"), counter.rule, counter.reason)
    reason = f"{counter.reason}; deferred to {until.isoformat()}"
    return SendCheck(send_action("defer"), counter.rule, reason, until)
