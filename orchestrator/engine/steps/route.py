"""``route``: hand the conversation to an agent queue, with skills and priority.

YAML::

    - {id: to_agent, type: route, queue: delivery-care, skills: [returns], priority: 7,
       note: "Order {{ customer.fields.last_order }} delayed"}

Emits ``hand_off``; routing itself (agents, business hours) comes later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from orchestrator.engine.decisions import HandOff, derive_id
from orchestrator.engine.expressions import ExpressionError, render
from orchestrator.engine.spec_base import StepBase
from orchestrator.engine.steps import Goto, Result
from orchestrator.engine.steps.markers import Evaluated

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps.context import StepContext


class RouteStep(StepBase):
    """Hand the conversation to an agent queue (routing itself comes later)."""

    type: Literal["route"]
    queue: str = Field(pattern=r"^[a-z0-9_.-]+$")
    skills: tuple[str, ...] = ()
    priority: int = Field(0, ge=0, le=10)
    note: Annotated[str | None, Evaluated()] = None

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Queue a task for an agent and go on."""
        note = None
        if self.note:
            try:
                note = render(self.note, ctx.variables(flow, current))
            except ExpressionError as exc:
                ctx.note("template_error", flow, self.id, str(exc))
        task_id = derive_id("task", current.run_id, self.id, str(current.visits.get(self.id, 0)))
        ctx.decide(
            HandOff(
                task_id,
                self.queue,
                self.skills,
                self.priority,
                note,
                current.channel or ctx.state.last_channel,
                flow.id,
                self.id,
                flow.version,
            )
        )
        return Goto(ctx.next_of(flow, self), current)
