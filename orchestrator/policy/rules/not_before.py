"""``not_before``: a message deferred by its decision goes no earlier than its time."""

from __future__ import annotations

from typing import ClassVar

from orchestrator.policy.rules.base import DecisionWalk, Ids, SendWalk
from orchestrator.policy.verdicts import SendCheck, Verdict


class NotBefore:
    """The time the decision (or a deferral) set on the message."""

    name: ClassVar[str] = "not_before"
    ids: ClassVar[Ids] = "single"
    labelled: ClassVar[bool] = True

    def at_decision(self, walk: DecisionWalk) -> Verdict | None:
        """No decision-time face: a decision is made at its own ``now`` and sets ``not_before``
        (the other rules' deferrals); nothing has set one yet."""
        return None

    def at_send(self, walk: SendWalk) -> SendCheck | None:
        """Defers a message that is not due yet."""
        due = walk.msg.not_before
        if due is None or due <= walk.now:
            return None
        return walk.defer(self.name, f"not before {due.isoformat()}", due)
