"""``dedupe.template``: the same flow step (``flow.step``) sent twice within
``same_template_within``, from different runs (a run may repeat its own question), is dropped:
double triggers, replays."""

from __future__ import annotations

from typing import ClassVar

from orchestrator.policy.rules.base import DecisionWalk, Ids, SendWalk
from orchestrator.policy.verdicts import SendCheck, Verdict


class DedupeTemplate:
    """The same template again, from another run."""

    name: ClassVar[str] = "dedupe.template"
    ids: ClassVar[Ids] = "single"
    labelled: ClassVar[bool] = False
    """Counted under ``other``, as it always was (dashboards group it there)."""

    def at_decision(self, walk: DecisionWalk) -> Verdict | None:
        """Blocks a template another run sent within the period."""
        cand, within = walk.cand, walk.policy.dedupe.same_template_within
        recent = [
            s
            for s in walk.who.history
            if s.template == cand.template
            and s.at > walk.now - within
            and not (cand.run_id and s.run_id == cand.run_id)
        ]
        if recent:
            reason = f"the same template was sent {recent[-1].at.isoformat()} (within {within})"
            walk.find(self.name, False, reason)
            return walk.block(self.name, reason)
        walk.find(self.name, True, "not sent recently")
        return None

    def at_send(self, walk: SendWalk) -> SendCheck | None:
        """No send-time face: the decision judged it, and a redelivery of the same message is
        the send ledger's to stop (by message id), not this rule's."""
        return None
