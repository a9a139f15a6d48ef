"""What a step may use while it runs: the narrow face of the engine's working memory.

:class:`orchestrator.engine.session.Session` satisfies it; steps depend only on this Protocol
(so they never import the session, and a test may give them a small stand-in).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from orchestrator.engine.catalogue import Catalogue
    from orchestrator.engine.decisions import Decision
    from orchestrator.engine.model import CustomerState, Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.spec_base import StepBase
    from orchestrator.engine.steps._message import MessageStep


class StepContext(Protocol):
    """The state being changed, the time, the flows, and the ways to record what to do."""

    state: CustomerState
    """The customer's state as it changes; a step replaces it to change it."""
    now: datetime
    catalogue: Catalogue

    def variables(self, flow: Flow | None, run: Run | None) -> dict[str, Any]:
        """What templates and expressions see."""
        ...

    def next_of(self, flow: Flow, step: StepBase) -> str | None:
        """Where a step goes by default."""
        ...

    def decide(self, decision: Decision) -> None:
        """Add a decision."""
        ...

    def note(self, code: str, flow: Flow | None, step: str | None, detail: str = "") -> None:
        """Add a note."""
        ...

    def send(self, flow: Flow, run: Run, step: MessageStep) -> None:
        """Render, police and address the step's message."""
        ...

    def start_timer(
        self, flow: Flow, run: Run, step_id: str, after: timedelta | None, purpose: str
    ) -> str | None:
        """A timer for this run's wait (``None`` when there is no delay)."""
        ...

    def start_named_timer(self, flow: Flow, step_id: str, name: str, after: timedelta) -> None:
        """A named customer timer that starts ``timer`` flows."""
        ...

    def cancel_timer(self, timer_id: str | None) -> None:
        """Cancel a pending timer, if there is one."""
        ...
