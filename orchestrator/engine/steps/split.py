"""``split``: a random A/B/n branch, stable per customer (a hash, not a random draw).

YAML::

    - id: ab
      type: split
      weights: {short: 50, long: 50}
      branches: {short: short_text, long: long_text}

The variant is recorded in ``run.results.<id>.variant``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from orchestrator.engine.decisions import stable_fraction
from orchestrator.engine.spec_base import StepBase, StepRef
from orchestrator.engine.steps import Goto, Result
from orchestrator.engine.steps.markers import Target

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps.context import StepContext


class SplitStep(StepBase):
    """Random A/B/n split, stable per customer: weights per branch name, then branches."""

    type: Literal["split"]
    weights: dict[str, int] = Field(min_length=2)
    branches: Annotated[dict[str, StepRef], Target()]
    takes_next: ClassVar[bool] = False

    @model_validator(mode="after")
    def _same_keys(self) -> SplitStep:
        if set(self.weights) != set(self.branches):
            raise ValueError("`weights` and `branches` must name the same variants")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("weights must be non-negative and not all zero")
        return self

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Branch by the customer's stable fraction."""
        point = stable_fraction(ctx.state.customer_id, flow.id, self.id) * sum(
            self.weights.values()
        )
        chosen = next(iter(self.weights))
        for variant in sorted(self.weights):
            if point < self.weights[variant]:
                chosen = variant
                break
            point -= self.weights[variant]
        results = {**current.results, self.id: {"variant": chosen}}
        return Goto(self.branches[chosen], replace(current, results=results))

    def exits(self, following: str | None) -> list[tuple[str, str | None]]:
        """Always one of the branches."""
        return list(self.branches.items())
