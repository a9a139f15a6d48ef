"""What the handlers that run before any flow may use: identity events
(:mod:`orchestrator.engine.identity`) and opt-outs (:mod:`orchestrator.engine.opt_outs`). PURE.

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
