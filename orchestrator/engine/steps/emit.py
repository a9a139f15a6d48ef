"""``emit``: publish a business event (``event.<name>``) with templated data.

YAML::

    - id: tell_crm
      type: emit
      event: csat.detractor
      data: {score: "{{ run.results.score.value }}"}

Emits ``emit_event``; the event names this customer, so flows may trigger on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.engine import spec
from orchestrator.engine.decisions import EmitEvent, derive_id
from orchestrator.engine.expressions import ExpressionError, render
from orchestrator.engine.steps import Goto, Result

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.session import Session


def run(step: spec.EmitStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """Publish and go on."""
    variables = s.variables(flow, current)
    data: dict[str, str] = {}
    for key, template in step.data.items():
        try:
            data[key] = render(template, variables)
        except ExpressionError as exc:
            s.note("template_error", flow, step.id, f"data.{key}: {exc}")
    event_id = derive_id("evt", current.run_id, step.id, str(current.visits.get(step.id, 0)))
    s.decide(EmitEvent(event_id, step.event, data, flow.id, step.id, flow.version))
    return Goto(s.next_of(flow, step), current)
