"""Applying an opt-out or opt-in (a keyword, or a provider's report) before any flow. PURE.

The contact policy says what the message or the report means (``keywords.keyword`` and
``keywords.provider_report`` in :mod:`orchestrator.policy.keywords`); this module changes the
customer's state accordingly: consent, the runs an opt-out ends (their timers cancelled), the
note, and the confirmation to send.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from orchestrator.engine import conversations
from orchestrator.engine.decisions import Note, SendMessage, derive_id
from orchestrator.policy import keywords
from orchestrator.policy.keywords import OptChange

if TYPE_CHECKING:
    from orchestrator.engine.handling import Handling


def handle(s: Handling) -> bool:
    """Apply the opt-out or opt-in an event asks for; say whether it asked for one."""
    ev, policy, st = s.event, s.catalogue.policy, s.state
    if not ev.channel:
        return False
    change: OptChange | None = None
    if ev.kind == "message":
        reply_language = st.language or ev.locale or "en"
        language = st.language or ev.locale
        change = keywords.keyword(policy, st.consent, ev.channel, ev.text, language, reply_language)
    elif ev.kind == "status":
        change = keywords.provider_report(policy, st.consent, ev.channel, ev.name or "", ev.data)
    if change is None:
        return False
    _apply(s, change)
    return True


def _apply(s: Handling, change: OptChange) -> None:
    if change.ends_runs:
        for run in (s.state.run, s.state.suspended):
            if run is not None:
                s.end_run(run, None)  # cancels its timers, the run's expiry included
                s.notes.append(
                    Note(
                        "run_ended",
                        "the customer opted out",
                        run.flow_id,
                        run.flow_version,
                        run.step,
                    )
                )
        s.state = replace(s.state, run=None, suspended=None, current_flow=None)
    s.state = replace(s.state, consent=change.consent_after(s.state.consent, s.now))
    s.notes.append(Note(change.kind, change.detail, data=dict(change.data)))
    if change.ends_runs:  # nor does a person go on talking to them
        conversations.cancel(s, conversations.OPTED_OUT)
    to = s.state.identities.get(change.channel)
    if change.confirmation is None or to is None or change.already is not None:
        return
    s.decide(
        SendMessage(
            message_id=derive_id("msg", s.event.event_id, change.kind),
            channel=change.channel,
            to=to,
            sender=s.event.recipient,
            text=change.confirmation,
            purpose="transactional",
            flow_id="policy",
            flow_version=1,
            step=change.kind,
            policy_rule=f"keywords.{change.kind}.confirmation",
        )
    )
