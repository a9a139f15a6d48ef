"""What the handlers that run before any flow may use: identity events
(:mod:`orchestrator.engine.identity`), opt-outs (:mod:`orchestrator.engine.opt_outs`) and
conversations with agents (:mod:`orchestrator.engine.conversations`). PURE.

:class:`orchestrator.engine.session.Session` satisfies it; the handlers depend only on this
Protocol, so they never import the session, and a test may give them a small stand-in.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from orchestrator.engine.catalogue import Catalogue
    from orchestrator.engine.decisions import Decision, Note
    from orchestrator.engine.model import CustomerState, Event, Run
    from orchestrator.engine.spec import Flow
    from orchestrator.policy.verdicts import Customer, Verdict


class Handling(Protocol):
    """The event, the state being changed, and the ways to record what to do."""

    event: Event
    state: CustomerState
    """The customer's state as it changes; a handler replaces it to change it."""
    now: datetime
    catalogue: Catalogue
    notes: list[Note]

    def decide(self, decision: Decision) -> None:
        """Add a decision."""
        ...

    def end_run(self, run: Run | None, flow: Flow | None) -> None:
        """Forget a run, cancelling its timers."""
        ...

    def customer(self, sending: str = "") -> Customer:
        """The recipient as the contact policy sees them, for a send of flow ``sending``."""
        ...

    def remember_send(
        self, channel: str, purpose: str, template: str, text: str, at: datetime, run_id: str
    ) -> None:
        """Add a send to the customer's recent history (caps and dedupe at decision time)."""
        ...

    def policy_note(self, verdict: Verdict, flow: Flow | None, step: str | None) -> None:
        """Record what the policy decided, with the rule id and the reason."""
        ...
