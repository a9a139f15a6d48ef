"""``emit``: publish a business event (``event.<name>``) with templated data.

YAML::

    - id: tell_crm
      type: emit
      event: csat.detractor
      data: {score: "{{ run.results.score.value }}"}

Emits ``emit_event``; the event names this customer, so flows may trigger on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from orchestrator.engine.decisions import EmitEvent, derive_id
from orchestrator.engine.expressions import ExpressionError, render
from orchestrator.engine.spec_base import StepBase
from orchestrator.engine.steps import Goto, Result
from orchestrator.engine.steps.markers import Evaluated

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps.context import StepContext


class EmitStep(StepBase):
    """Publish a business event ``event.<name>`` with templated data."""

    type: Literal["emit"]
    event: str = Field(pattern=r"^[a-z0-9_.-]+$")
    data: Annotated[dict[str, str], Evaluated()] = Field(default_factory=dict)

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Publish and go on."""
        variables = ctx.variables(flow, current)
        data: dict[str, str] = {}
        for key, template in self.data.items():
            try:
                data[key] = render(template, variables)
            except ExpressionError as exc:
                ctx.note("template_error", flow, self.id, f"data.{key}: {exc}")
        event_id = derive_id("evt", current.run_id, self.id, str(current.visits.get(self.id, 0)))
        ctx.decide(EmitEvent(event_id, self.event, data, flow.id, self.id, flow.version))
        return Goto(ctx.next_of(flow, self), current)
