"""``end``: finish the current flow (a subflow returns to its parent).

YAML::

    - {id: done, type: end}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from orchestrator.engine.spec_base import StepBase
from orchestrator.engine.steps import Result, Stop

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps.context import StepContext


class EndStep(StepBase):
    """End the run."""

    type: Literal["end"]
    takes_next: ClassVar[bool] = False

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Stop here."""
        return Stop(current)

    def exits(self, following: str | None) -> list[tuple[str, str | None]]:
        """None: the flow ends."""
        return []
