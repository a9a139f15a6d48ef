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

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from orchestrator.engine.expressions import ExpressionError, truthy
from orchestrator.engine.spec_base import Spec, StepBase, StepRef
from orchestrator.engine.steps import Goto, Result
from orchestrator.engine.steps.markers import Expression, Target

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps.context import StepContext


class Case(Spec):
    """A ``switch`` branch: go to ``next`` when the expression ``when`` holds."""

    when: Annotated[str, Expression()]
    next: Annotated[StepRef, Target()]


class SwitchStep(StepBase):
    """Branch on the first case whose expression holds, else ``default``."""

    type: Literal["switch"]
    cases: tuple[Case, ...] = Field(min_length=1)
    default: Annotated[StepRef | None, Target()] = None

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Pick a branch."""
        variables = ctx.variables(flow, current)
        for case in self.cases:
            try:
                if truthy(case.when, variables):
                    return Goto(case.next, current)
            except ExpressionError as exc:
                ctx.note("expression_error", flow, self.id, f"{case.when}: {exc}")
        return Goto(self.default or ctx.next_of(flow, self), current)

    def exits(self, following: str | None) -> list[tuple[str, str | None]]:
        """Each case, then the default."""
        cases: list[tuple[str, str | None]] = [
            (f"case {i + 1}: {c.when}", c.next) for i, c in enumerate(self.cases)
        ]
        return [*cases, ("default", self.default or following)]
