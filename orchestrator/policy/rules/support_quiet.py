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

Decision time only: the dispatcher's state has no flow stages, so a marketing message decided
before a support conversation opened still goes.
"""

from __future__ import annotations

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
        if seen >= walk.now:
            reason = "a support conversation is open"
        else:
            reason = f"a support conversation at {seen.isoformat()}, within {spec.within}"
        walk.find(self.name, False, reason)
        return walk.block(self.name, reason)

    def at_send(self, walk: SendWalk) -> SendCheck | None:
        """No send-time face: the dispatcher's state has no flow stages."""
        return None
