"""``wait``: for a duration, until a local time in the customer's zone, or for an event.

YAML::

    - {id: pause, type: wait, duration: 3d}
    - {id: morning, type: wait, until: "09:00"}
    - {id: delivered, type: wait, event: order.delivered, timeout: 5d, timeout_next: chase}

Emits ``start_timer`` (and ``cancel_timer`` when the event comes first).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.engine import spec
from orchestrator.engine.steps import Goto, Pause, Result

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.session import Session


def run(step: spec.WaitStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """Start waiting."""
    if step.event is not None:
        timer = s.start_timer(flow, current, step.id, step.timeout, "wait_timeout")
        return Pause(replace(current, step=step.id, waiting=f"event:{step.event}", timer_id=timer))
    delay = step.duration if step.duration is not None else until(step.until or "00:00", s)
    timer = s.start_timer(flow, current, step.id, delay, "wait")
    return Pause(replace(current, step=step.id, waiting="timer", timer_id=timer))


def until(hhmm: str, s: Session) -> timedelta:
    """Time from now to the next ``HH:MM`` in the customer's time zone (UTC if unknown)."""
    try:
        zone = ZoneInfo(s.state.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = s.now.astimezone(zone)
    hour, minute = (int(p) for p in hhmm.split(":"))
    target = datetime.combine(local.date(), time(hour, minute), tzinfo=zone)
    if target <= local:
        target = datetime.combine(local.date() + timedelta(days=1), time(hour, minute), tzinfo=zone)
    return target - local


def elapsed(step: spec.WaitStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """The timer fired: a duration wait goes on; an event wait takes its timeout branch."""
    if step.event is not None:
        return Goto(step.timeout_next or s.next_of(flow, step), current)
    return Goto(s.next_of(flow, step), current)


def arrived(step: spec.WaitStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """The awaited event came: cancel the timeout and go on."""
    s.cancel_timer(current.timer_id)
    return Goto(s.next_of(flow, step), replace(current, timer_id=None))
