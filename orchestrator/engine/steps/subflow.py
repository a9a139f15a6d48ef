"""``subflow``: run another flow, then come back to this step's ``next``.

YAML::

    - {id: consent, type: subflow, flow: consent-capture, next: thanks}

Emits the note ``subflow_started``; ``subflow_returned`` when the child ends.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from orchestrator.engine.model import Frame
from orchestrator.engine.spec_base import STEP_ID, StepBase
from orchestrator.engine.steps import Goto, Result, Stop
from orchestrator.engine.steps.markers import FlowRef

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps.context import StepContext


class SubflowStep(StepBase):
    """Run another flow, then come back to ``next``."""

    type: Literal["subflow"]
    flow: Annotated[str, FlowRef()] = Field(pattern=STEP_ID)

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Push this flow and enter the child at its first step."""
        child = ctx.catalogue.get(self.flow)
        if child is None:
            detail = f"subflow {self.flow!r} is not loaded"
            ctx.note("flow_version_unavailable", flow, self.id, detail)
            return Stop(current)
        frame = Frame(flow.id, flow.version, ctx.next_of(flow, self))
        entered = replace(
            current, flow_id=child.id, flow_version=child.version, stack=(*current.stack, frame)
        )
        ctx.note("subflow_started", child, None, f"from {flow.id}.{self.id}")
        return Goto(child.steps[0].id, entered)

    def exits(self, following: str | None) -> list[tuple[str, str | None]]:
        """Back from the child flow to ``next``."""
        return [(f"after {self.flow}", following)]
