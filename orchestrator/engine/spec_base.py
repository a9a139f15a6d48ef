"""What every part of the flow language shares: the strict base model, durations, step ids and
the fields every step has. :mod:`orchestrator.engine.spec` and the step modules build on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.durations import duration_schema, parse_duration
from orchestrator.engine.steps.markers import Advice, Check, Marked, Target

if TYPE_CHECKING:
    from orchestrator.engine.model import Event, Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps import Result
    from orchestrator.engine.steps.context import StepContext

STEP_ID = r"^[a-z][a-z0-9_-]{0,63}$"

StepRef = Annotated[str, Field(pattern=STEP_ID)]
Duration = Annotated[timedelta, Field(json_schema_extra=duration_schema)]

Text = str | dict[str, str]
"""A template, or per-language templates keyed by language code."""


def to_duration(value: object) -> timedelta:
    """A duration from seconds, a ``timedelta`` or text such as ``3d`` / ``1h30m``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    return parse_duration(str(value))


def optional_duration(value: object) -> timedelta | None:
    """:func:`to_duration`, keeping ``None``."""
    return None if value is None else to_duration(value)


class Spec(BaseModel):
    """Base of every part of a flow: unknown keys are errors, values are immutable.

    A part whose markers depend on its values (an ``ask`` category is an expression only when
    its test says so) adds them in :meth:`markers`; checks that need the flow or the load's
    settings are :meth:`problems`. Both give locations relative to the part.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    def markers(self) -> Iterator[Marked]:
        """Markers computed from the values (beside those on the fields)."""
        return iter(())

    def problems(self, check: Check) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """Problems beyond the schema and the markers, as (relative location, reason)."""
        return iter(())


class StepBase(Spec):
    """What every step has: an id, and where to go next (default: the following step).

    A step type subclasses it with ``type: Literal["<name>"]`` and its fields, and gives
    :meth:`run`; one that waits gives the ``on_*`` method of what it waits for.
    """

    id: StepRef
    next: Annotated[StepRef | None, Target()] = None

    takes_next: ClassVar[bool] = True
    """False for steps that never go to ``next`` (lint warns when one has it)."""

    if TYPE_CHECKING:  # every step type declares it as a Literal
        type: str

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Execute the step: add decisions and notes to ``ctx``, say where the run goes."""
        raise NotImplementedError

    def on_reply(self, flow: Flow, current: Run, ctx: StepContext, event: Event) -> Result | None:
        """The customer replied while the run waits here (``None``: not a reply it takes)."""
        return None

    def on_timer(self, flow: Flow, current: Run, ctx: StepContext) -> Result | None:
        """The run's timer fired while it waits here."""
        return None

    def on_call(
        self, flow: Flow, current: Run, ctx: StepContext, data: dict[str, object]
    ) -> Result | None:
        """The response of the run's HTTP call came."""
        return None

    def on_event(self, flow: Flow, current: Run, ctx: StepContext) -> Result | None:
        """The business event the run waits for came."""
        return None

    def exits(self, following: str | None) -> list[tuple[str, str | None]]:
        """Every (label, target) the step may go to; ``following`` is where it goes by default.
        Read by the flow graph, lint and diff."""
        return [("", following)]

    def advice(self, flow: Flow) -> Iterator[Advice]:
        """Lint findings about this step (valid, but probably not what the author meant)."""
        return iter(())
