"""``quiet_hours.<purpose>``: no contact in the recipient's night (their zone, the strictest
when unsure), nor on listed holidays; a service or transactional reply within
``reply_window`` of the customer's own message is not held.

Decision time: judged at ``now``, or at a cap's later time; deferred to the next allowed
moment, or blocked when none comes within :data:`~orchestrator.policy.quiet_hours.NO_ALLOWED_TIME`.
Send time: judged at ``now``; the reply window counts from the decision and the later of the
state's and the command's ``inbound_at`` (a released deferral is judged at its release).
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.policy import quiet_hours as q
from orchestrator.policy.rules.base import DecisionWalk, Ids, SendWalk, aware
from orchestrator.policy.verdicts import SendCheck, Verdict


class QuietHours:
    """Quiet windows and holidays per purpose."""

    name: ClassVar[str] = "quiet_hours"
    ids: ClassVar[Ids] = "purpose"
    labelled: ClassVar[bool] = True

    def at_decision(self, walk: DecisionWalk) -> Verdict | None:
        """Defers to the next allowed time (or blocks when there is none soon enough)."""
        policy, cand, rule = walk.policy, walk.cand, f"quiet_hours.{walk.cand.purpose}"
        zones = q.zones_for(policy, walk.who.timezone, cand.to)
        start = walk.later or walk.now
        inbound = q.latest_inbound(walk.who.last_inbound)
        if walk.later is None and q.is_reply(policy, cand.purpose, inbound, walk.now):
            reply = f"a reply within {policy.quiet_hours.reply_window} of the customer's message"
            walk.find(rule, True, f"{reply}: not held")
            return None
        until = q.next_allowed(policy, cand.purpose, zones, start)
        where = ", ".join(zones)
        if until is None:
            walk.find(rule, True, f"not quiet in {where}")
            return None
        walk.find(rule, False, f"quiet in {where} until {until.isoformat()}")
        if until >= start + q.NO_ALLOWED_TIME:
            reason = (
                f"no time in the next {q.NO_ALLOWED_TIME.days} days is outside "
                f"quiet hours in every possible zone ({where})"
            )
            return walk.block(rule, reason)
        return walk.defer(rule, until)

    def at_send(self, walk: SendWalk) -> SendCheck | None:
        """Defers to the next allowed time, unless the message is a reply."""
        policy, msg, now = walk.policy, walk.msg, walk.now
        zones = q.zones_for(policy, walk.who.timezone, msg.to)
        inbound = q.latest_inbound(walk.who.last_inbound, msg.inbound_at)
        asked_at = now if msg.not_before is not None else (aware(msg.decided_at) or now)
        if q.is_reply(policy, msg.purpose, inbound, asked_at):
            return None
        until = q.next_allowed(policy, msg.purpose, zones, now)
        if until is None:
            return None
        reason = f"quiet in {', '.join(zones)}; deferred to {until.isoformat()}"
        return walk.defer(f"quiet_hours.{msg.purpose}", reason, until)
