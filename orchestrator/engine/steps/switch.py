"""``switch``: the first case whose expression holds, else ``default`` (else the next step).

YAML::

    - id: by_status
      type: switch
      cases:
        - {when: "run.results.lookup.json.status == 'shipped'", next: shipped}
        - {when: "run.results.lookup.json.status == 'delayed'", next: delayed}
      default: processing
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.engine import spec
from orchestrator.engine.expressions import ExpressionError, truthy
from orchestrator.engine.steps import Goto, Result

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.session import Session


def run(step: spec.SwitchStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """Pick a branch."""
    variables = s.variables(flow, current)
    for case in step.cases:
        try:
            if truthy(case.when, variables):
                return Goto(case.next, current)
        except ExpressionError as exc:
            s.note("expression_error", flow, step.id, f"{case.when}: {exc}")
    return Goto(step.default or s.next_of(flow, step), current)
