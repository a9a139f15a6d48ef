"""``support_quiet``: no marketing while the customer is in a support conversation, nor within
``support_quiet.within`` (4 h) of one: an offer in the middle of a complaint reads as not
listening.

A support conversation is a run of a flow whose ``stage`` is ``support`` (help, a delivery
problem, a CSAT survey) other than the flow sending the message (a support flow's own offer,
a voucher for a late parcel, is its owner's call). The host tells the policy when the customer
was last in one (``Customer.support_at``, from
:func:`orchestrator.engine.customer_view.last_support`): ``now`` while such a run
is open (active or suspended under another), else when the latest one started (the state keeps
when a flow last started, not when it ended). Without that fact the rule says nothing.

At send time the dispatcher asks the same of the customer's current state, with the flows in
force: a marketing message decided (or deferred by quiet hours) before a support conversation
opened is blocked when it comes to be sent during it, or within ``within`` after it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from orchestrator.policy.rules.base import DecisionWalk, Ids, SendWalk, within
from orchestrator.policy.verdicts import SendCheck, Verdict

SUPPORT = "support"


class SupportQuiet:
    """No marketing within ``within`` of a support conversation."""

    name: ClassVar[str] = "support_quiet"
    ids: ClassVar[Ids] = "single"
    labelled: ClassVar[bool] = True

    def at_decision(self, walk: DecisionWalk) -> Verdict | None:
        """Blocks a marketing message during a support conversation or soon after one."""
        spec, seen = walk.policy.support_quiet, walk.who.support_at
        if seen is None or walk.cand.purpose not in spec.purposes:
            return None
        if not within(seen, walk.now, spec.within):
            walk.find(self.name, True, f"no support conversation within {spec.within}")
            return None
        reason = _reason(seen, walk.now, spec.within)
        walk.find(self.name, False, reason)
        return walk.block(self.name, reason)

    def at_send(self, walk: SendWalk) -> SendCheck | None:
        """Blocks a queued marketing message that would now land in or soon after a support
        conversation."""
        spec, seen = walk.policy.support_quiet, walk.who.support_at
        if seen is None or walk.msg.purpose not in spec.purposes:
            return None
        if not within(seen, walk.now, spec.within):
            return None
        return walk.block(self.name, _reason(seen, walk.now, spec.within))


def _reason(seen: datetime, now: datetime, window: timedelta) -> str:
    if seen >= now:
        return "a support conversation is open"
    return f"a support conversation at {seen.isoformat()}, within {window}"
