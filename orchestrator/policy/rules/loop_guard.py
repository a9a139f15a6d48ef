"""``loop_guard``: more than ``identical_texts`` identical texts within ``identical_within``
stop the sender (a flow or an integration in a loop; carriers filter such repeats as spam).

Decision time: counted in the customer's recent sends (``state.sent_log``). Send time: an atomic
Redis counter per text digest (:meth:`counters`), admitted with the caps'.
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.policy.history import text_hash
from orchestrator.policy.rules.base import DecisionWalk, Ids, SendWalk
from orchestrator.policy.spec import Policy
from orchestrator.policy.verdicts import Counter, Outgoing, SendCheck, Verdict


class LoopGuard:
    """Runaway identical texts."""

    name: ClassVar[str] = "loop_guard"
    ids: ClassVar[Ids] = "single"
    labelled: ClassVar[bool] = True

    def at_decision(self, walk: DecisionWalk) -> Verdict | None:
        """Blocks the next identical text once the sender has sent too many."""
        d, cand = walk.policy.dedupe, walk.cand
        since = walk.now - d.identical_within
        same = [s for s in walk.who.history if s.text_hash == cand.text_hash and s.at > since]
        if len(same) >= d.identical_texts:
            window = d.identical_within
            reason = f"{len(same)} identical texts within {window}: the sender is stopped"
            walk.find(self.name, False, reason)
            return walk.block(self.name, reason)
        walk.find(self.name, True, f"{len(same)} identical texts recently")
        return None

    def at_send(self, walk: SendWalk) -> SendCheck | None:
        """Nothing to check in the state: counted in Redis instead (:meth:`counters`)."""
        return None

    def counters(self, policy: Policy, msg: Outgoing) -> list[Counter]:
        """One counter per text digest."""
        d = policy.dedupe
        reason = f"{d.identical_texts} identical texts within {d.identical_within}: sender stopped"
        return [
            Counter(
                self.name,
                "identical",
                text_hash(msg.text),
                d.identical_texts,
                d.identical_within,
                "drop",
                reason,
            )
        ]
