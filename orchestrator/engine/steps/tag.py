"""``tag``: add tags to the customer and remove others (literal names, not templates).

YAML::

    - {id: mark, type: tag, add: [vip, churn-risk], remove: [prospect]}

Changes ``customer.tags`` (removals first, then additions); emits no decision.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from orchestrator.engine.model import retag
from orchestrator.engine.spec_base import StepBase
from orchestrator.engine.steps import Goto, Result

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps.context import StepContext

Tag = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]


class TagStep(StepBase):
    """Add and remove customer tags."""

    type: Literal["tag"]
    add: tuple[Tag, ...] = ()
    remove: tuple[Tag, ...] = ()

    @model_validator(mode="after")
    def _something(self) -> TagStep:
        if not self.add and not self.remove:
            raise ValueError("a tag step needs `add` or `remove`")
        named = [*self.add, *self.remove]
        twice = sorted({t for t in named if named.count(t) > 1})
        if twice:
            raise ValueError(f"each tag is named once in `add` and `remove`: {', '.join(twice)}")
        return self

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Change the tags and go on."""
        ctx.state = replace(ctx.state, tags=retag(ctx.state.tags, self.add, self.remove))
        return Goto(ctx.next_of(flow, self), current)
