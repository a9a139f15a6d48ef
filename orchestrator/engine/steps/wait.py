"""``wait``: for a duration, until a local time in the customer's zone, or for an event.

YAML::

    - {id: pause, type: wait, duration: 3d}
    - {id: morning, type: wait, until: "09:00"}
    - {id: delivered, type: wait, event: order.delivered, timeout: 5d, timeout_next: chase}
    - {id: outcome, type: wait, status: final, timeout: 1d, timeout_next: chase}

``status: final`` waits for the final delivery status of a message the customer was sent
(delivered or read, or failed with no fallback left: ``event.data.final``); the next step sees
it as ``event`` (``event.name`` the status, ``event.data.fallback_from`` set when it is a
fallback's). Emits ``start_timer`` (and ``cancel_timer`` when the event comes first).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from orchestrator.engine.spec_base import Duration, StepBase, StepRef, optional_duration
from orchestrator.engine.steps import Goto, Pause, Result
from orchestrator.engine.steps.markers import Advice, Target

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps.context import StepContext


class WaitStep(StepBase):
    """Wait ``duration``, or ``until`` a local time (HH:MM) in the customer's zone, or for
    ``event`` or the final delivery ``status`` with a ``timeout`` (then ``timeout_next``)."""

    type: Literal["wait"]
    duration: Duration | None = None
    until: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    event: str | None = Field(None, pattern=r"^[a-z0-9_.-]+$")
    status: Literal["final"] | None = Field(
        None, description="wait for a sent message's final delivery status"
    )
    timeout: Duration | None = None
    timeout_next: Annotated[StepRef | None, Target()] = None

    _d = field_validator("duration", "timeout", mode="before")(optional_duration)

    @model_validator(mode="after")
    def _one_kind(self) -> WaitStep:
        kinds = [
            k for k in ("duration", "until", "event", "status") if getattr(self, k) is not None
        ]
        if len(kinds) != 1:
            raise ValueError("a wait needs exactly one of `duration`, `until`, `event` or `status`")
        if self.event is None and self.status is None and (self.timeout or self.timeout_next):
            raise ValueError("`timeout` and `timeout_next` go with `event` or `status`")
        return self

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Start waiting."""
        if self.event is not None or self.status is not None:
            timer = ctx.start_timer(flow, current, self.id, self.timeout, "wait_timeout")
            waiting = f"event:{self.event}" if self.event is not None else "status:final"
            return Pause(replace(current, step=self.id, waiting=waiting, timer_id=timer))
        delay = self.duration if self.duration is not None else until(self.until or "00:00", ctx)
        timer = ctx.start_timer(flow, current, self.id, delay, "wait")
        return Pause(replace(current, step=self.id, waiting="timer", timer_id=timer))

    def on_timer(self, flow: Flow, current: Run, ctx: StepContext) -> Result | None:
        """The timer fired: a duration wait goes on; an event wait takes its timeout branch."""
        if self.event is not None or self.status is not None:
            return Goto(self.timeout_next or ctx.next_of(flow, self), current)
        return Goto(ctx.next_of(flow, self), current)

    def on_event(self, flow: Flow, current: Run, ctx: StepContext) -> Result | None:
        """The awaited event came: cancel the timeout and go on."""
        ctx.cancel_timer(current.timer_id)
        return Goto(ctx.next_of(flow, self), replace(current, timer_id=None))

    def exits(self, following: str | None) -> list[tuple[str, str | None]]:
        """An event wait goes on when the event comes, or to ``timeout_next``."""
        if self.status is not None:
            return [("final status", following), ("timeout", self.timeout_next)]
        if self.event is None:
            return [("", following)]
        return [(f"event {self.event}", following), ("timeout", self.timeout_next)]

    def advice(self, flow: Flow) -> Iterator[Advice]:
        """An event wait with no timeout may strand the customer."""
        if (self.event is None and self.status is None) or self.timeout is not None:
            return
        what = f"event {self.event!r}" if self.event is not None else "a final status"
        yield Advice("wait_without_timeout", f"waits for {what} forever; set `timeout`")
        if self.timeout_next:
            yield Advice("dead_timeout_branch", "`timeout_next` is never taken without `timeout`")


def until(hhmm: str, ctx: StepContext) -> timedelta:
    """Time from now to the next ``HH:MM`` in the customer's time zone (UTC if unknown)."""
    try:
        zone = ZoneInfo(ctx.state.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = ctx.now.astimezone(zone)
    hour, minute = (int(p) for p in hhmm.split(":"))
    target = datetime.combine(local.date(), time(hour, minute), tzinfo=zone)
    if target <= local:
        target = datetime.combine(local.date() + timedelta(days=1), time(hour, minute), tzinfo=zone)
    return target - local
