"""``consent.<purpose>``: no consent for the purpose on the channel, no message.

Decision time: :func:`orchestrator.policy.consent.check` on the customer's consent; its reason
names a plain allow. Send time: never stricter than the decision for reasons older than it
(:func:`consent_at_send`); opt-out and opt-in confirmations (``policy_rule`` ``keywords.*``)
skip it, since they must reach a customer who just sent STOP.
"""

from __future__ import annotations

from typing import Any, ClassVar

from orchestrator.policy import consent
from orchestrator.policy.rules.base import DecisionWalk, Ids, SendWalk, aware
from orchestrator.policy.spec import Policy
from orchestrator.policy.verdicts import Outgoing, SendCheck, Verdict

KEYWORD_PREFIX = "keywords."


class Consent:
    """The customer's consent for the message's purpose on its channel, and opt-outs."""

    name: ClassVar[str] = "consent"
    ids: ClassVar[Ids] = "purpose"
    labelled: ClassVar[bool] = True

    def at_decision(self, walk: DecisionWalk) -> Verdict | None:
        """Blocks without consent; otherwise remembers why it was allowed."""
        rule = f"consent.{walk.cand.purpose}"
        ok, why = consent.check(walk.policy, walk.who.consent, walk.cand.channel, walk.cand.purpose)
        walk.find(rule, ok, why)
        if not ok:
            return walk.block(rule, why)
        walk.allowed = why
        return None

    def at_send(self, walk: SendWalk) -> SendCheck | None:
        """Blocks for a revocation recorded since the decision (or any, without one)."""
        msg = walk.msg
        if (msg.policy_rule or "").startswith(KEYWORD_PREFIX):
            return None
        ok, why = consent_at_send(walk.policy, walk.who.consent, msg)
        return None if ok else walk.block(f"consent.{msg.purpose}", why)


def consent_at_send(policy: Policy, current: dict[str, Any], msg: Outgoing) -> tuple[bool, str]:
    """Consent at send time: never stricter than the decision for reasons older than it.

    The state the dispatcher holds may predate the decision (a ``set: consent`` in the same
    event not saved yet), so when the command says when it was decided, only a revocation
    recorded at or after ``decided_at`` blocks it.
    """
    ok, why = consent.check(policy, current, msg.channel, msg.purpose)
    decided = aware(msg.decided_at)
    if ok or decided is None:
        return ok, why
    if consent.revoked_since(current, msg.channel, msg.purpose, decided) is not None:
        return False, why
    basis = msg.consent_basis or msg.policy_rule or f"consent.{msg.purpose}"
    return True, f"allowed when decided at {decided.isoformat()} ({basis}); no revocation since"
