"""One candidate send through every rule at decision time: the verdict, and each rule's finding.

The rules and their order are :data:`orchestrator.policy.rules.ORDER` (consent, support quiet,
the WhatsApp window, the loop guard and dedupe, caps, quiet hours); this walks their
decision-time faces. A candidate every rule passes is allowed (as a template when the WhatsApp
window chose one), or deferred to the later time a cap set.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.policy.actions import VerdictAction as Action
from orchestrator.policy.rules import ORDER
from orchestrator.policy.rules.base import DecisionWalk
from orchestrator.policy.spec import Policy
from orchestrator.policy.verdicts import Candidate, Customer, Finding, Verdict

__all__ = ["Action", "Candidate", "Customer", "Finding", "Verdict", "evaluate"]


def evaluate(policy: Policy, who: Customer, cand: Candidate, now: datetime) -> Verdict:
    """Decide on one candidate send at ``now``."""
    walk = DecisionWalk(policy, who, cand, now, lambda other: evaluate(policy, who, other, now))
    for rule in ORDER:
        verdict = rule.at_decision(walk)
        if verdict is not None:
            return verdict
    if walk.later is not None:
        return walk.defer(walk.later_rule, walk.later)
    return walk.allow()
