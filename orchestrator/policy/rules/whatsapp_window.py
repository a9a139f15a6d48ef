"""``whatsapp.window``: free-form WhatsApp only within the customer-service window.

Meta lets a business send free-form messages only within ``session_window`` (24 h) of the
customer's last WhatsApp message. Decision time: outside it, an approved template (the
policy's ``approved_templates`` entry for the step first, then the step's own), else the first
``fallback_channels`` channel the whole policy lets through, else blocked. Send time: a
free-form message (no template) whose window closed while it waited is blocked; the window
counts from the later of the state's and the command's ``inbound_at``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import ClassVar

from orchestrator.policy.rules.base import DecisionWalk, Ids, SendWalk, aware, parsed, within
from orchestrator.policy.verdicts import Customer, Outgoing, SendCheck, Verdict

RULE = "whatsapp.window"


class WhatsAppWindow:
    """Free-form WhatsApp messages within the window; a template or another channel outside."""

    name: ClassVar[str] = RULE
    ids: ClassVar[Ids] = "single"
    labelled: ClassVar[bool] = True

    def at_decision(self, walk: DecisionWalk) -> Verdict | None:
        """Passes inside the window; outside, a template, a fallback's verdict, or a block."""
        policy, cand = walk.policy, walk.cand
        if cand.channel != "whatsapp" or not policy.whatsapp.enforce:
            return None
        raw = walk.who.last_inbound.get("whatsapp")
        window = policy.whatsapp.session_window
        if within(parsed(raw), walk.now, window):
            walk.find(RULE, True, f"last inbound {raw}, within {window}")
            return None
        approved = policy.whatsapp.approved_templates.get(cand.template) or cand.own_template
        if approved:
            walk.find(RULE, True, f"outside the {window} window: approved template {approved}")
            walk.template_name = approved
            return None
        for channel in policy.whatsapp.fallback_channels:
            address = walk.who.identities.get(channel)
            if address is None or channel == cand.channel:  # falling back to itself recurses
                continue
            verdict = walk.again(replace(cand, channel=channel, to=address))
            if verdict.sends:
                walk.find(RULE, False, f"outside the {window} window: falls back to {channel}")
                return replace(verdict, findings=(*walk.findings, *verdict.findings))
        reason = f"outside the {window} window, no approved template, no fallback channel"
        walk.find(RULE, False, reason)
        return walk.block(RULE, reason)

    def at_send(self, walk: SendWalk) -> SendCheck | None:
        """Blocks a free-form message whose window has closed."""
        policy, msg = walk.policy, walk.msg
        if msg.channel != "whatsapp" or not policy.whatsapp.enforce or msg.template_name:
            return None
        last = last_inbound(walk.who, msg)
        window = policy.whatsapp.session_window
        if within(last, walk.now, window):
            return None
        if last is None:
            why = f"no inbound WhatsApp message: the {window} window is closed and no template"
        else:
            why = f"last inbound {last.isoformat()}: the {window} window has closed and no template"
        return walk.block(RULE, why)


def last_inbound(who: Customer, msg: Outgoing) -> datetime | None:
    """The customer's last inbound message on the message's channel: the later of the state's
    and the one the decision saw."""
    known = [t for t in (aware(msg.inbound_at), parsed(who.last_inbound.get(msg.channel))) if t]
    return max(known) if known else None
