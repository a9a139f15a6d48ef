"""``route``: hand the conversation to an agent queue, with skills and priority.

YAML::

    - {id: to_agent, type: route, queue: delivery-care, skills: [returns], priority: 7,
       note: "Order {{ customer.fields.last_order }} delayed"}

Emits ``hand_off``; routing itself (agents, business hours) comes later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.engine import spec
from orchestrator.engine.decisions import HandOff, derive_id
from orchestrator.engine.expressions import ExpressionError, render
from orchestrator.engine.steps import Goto, Result

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.session import Session


def run(step: spec.RouteStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """Queue a task for an agent and go on."""
    note = None
    if step.note:
        try:
            note = render(step.note, s.variables(flow, current))
        except ExpressionError as exc:
            s.note("template_error", flow, step.id, str(exc))
    task_id = derive_id("task", current.run_id, step.id, str(current.visits.get(step.id, 0)))
    s.decide(
        HandOff(
            task_id,
            step.queue,
            step.skills,
            step.priority,
            note,
            current.channel or s.state.last_channel,
            flow.id,
            step.id,
            flow.version,
        )
    )
    return Goto(s.next_of(flow, step), current)
