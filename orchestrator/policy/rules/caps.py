"""``cap.<id>``: at most ``limit`` messages of a purpose per customer in a rolling window.

Decision time: counted in ``state.sent_log``; a dropping cap blocks, a deferring one sets the
time the rules after it judge (quiet hours at that time). Send time: atomic Redis counters
(:meth:`counters`); a full one blocks or defers (:func:`orchestrator.policy.send_time.over_limit`).
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.policy.history import caps_for, over_cap
from orchestrator.policy.rules.base import DecisionWalk, Ids, SendWalk
from orchestrator.policy.spec import Policy
from orchestrator.policy.verdicts import Counter, Outgoing, SendCheck, Verdict


class Caps:
    """Frequency caps of the message's purpose."""

    name: ClassVar[str] = "cap"
    ids: ClassVar[Ids] = "cap"
    labelled: ClassVar[bool] = True

    def at_decision(self, walk: DecisionWalk) -> Verdict | None:
        """Blocks on a full dropping cap; a full deferring one moves the message later."""
        cand = walk.cand
        for cap in caps_for(walk.policy, cand.purpose):
            until = over_cap(cap, cand.purpose, cand.channel, walk.who.history, walk.now)
            rule = f"cap.{cap.id}"
            if until is None:
                walk.find(rule, True, f"under {cap.limit} per {cap.window}")
                continue
            reason = f"{cap.limit} {cap.purpose} per {cap.window} reached"
            walk.find(rule, False, reason)
            if cap.action == "drop" or cap.limit == 0:  # deferring past a cap of 0 never ends
                return walk.block(rule, reason)
            if walk.later is None:
                walk.later_rule = rule
            walk.later = max(walk.later or until, until)
        return None

    def at_send(self, walk: SendWalk) -> SendCheck | None:
        """Nothing to check in the state: counted in Redis instead (:meth:`counters`)."""
        return None

    def counters(self, policy: Policy, msg: Outgoing) -> list[Counter]:
        """One counter per cap of the message's purpose."""
        return [
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
