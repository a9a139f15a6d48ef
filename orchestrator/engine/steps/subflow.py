"""``subflow``: run another flow, then come back to this step's ``next``.

YAML::

    - {id: consent, type: subflow, flow: consent-capture, next: thanks}

Emits the note ``subflow_started``; ``subflow_returned`` when the child ends.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from orchestrator.engine import spec
from orchestrator.engine.model import Frame
from orchestrator.engine.steps import Goto, Result, Stop

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.session import Session


def run(step: spec.SubflowStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """Push this flow and enter the child at its first step."""
    child = s.catalogue.get(step.flow)
    if child is None:
        s.note("flow_version_unavailable", flow, step.id, f"subflow {step.flow!r} is not loaded")
        return Stop(current)
    frame = Frame(flow.id, flow.version, s.next_of(flow, step))
    entered = replace(
        current, flow_id=child.id, flow_version=child.version, stack=(*current.stack, frame)
    )
    s.note("subflow_started", child, None, f"from {flow.id}.{step.id}")
    return Goto(child.steps[0].id, entered)
