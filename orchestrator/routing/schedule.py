"""Whether a queue is open: business hours in its zone, holidays, and the operator's override.
PURE: the time is given."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from orchestrator.routing.spec import Schedule

Override = Literal["open", "closed"]
"""An operator's emergency override of a schedule: forced open, or forced closed."""

_SEARCH_DAYS = 15


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_open(schedule: Schedule | None, at: datetime, override: Override | None = None) -> bool:
    """Whether a queue on ``schedule`` (none: always open) takes conversations at ``at``."""
    if override is not None:
        return override == "open"
    if schedule is None:
        return True
    local = at.astimezone(_zone(schedule.timezone))
    if local.date() in schedule.holidays:
        return False
    moment = local.time().replace(tzinfo=None)
    return any(span.covers(moment) for span in schedule.spans_on(local.weekday()))


def next_change(schedule: Schedule | None, at: datetime) -> datetime | None:
    """The first moment after ``at`` when ``schedule`` opens or closes (none within two
    weeks, or no schedule: ``None``). A router sets its next tick by it."""
    if schedule is None:
        return None
    zone = _zone(schedule.timezone)
    now_open = is_open(schedule, at)
    local = at.astimezone(zone)
    for day in range(_SEARCH_DAYS):
        date = (local + timedelta(days=day)).date()
        edges = [datetime.combine(date, datetime.min.time(), zone)]
        for span in schedule.spans_on(date.weekday()):
            edges.append(datetime.combine(date, span.start, zone))
            if span.end is not None:
                edges.append(datetime.combine(date, span.end, zone))
        for edge in sorted(edges):
            if edge > at and is_open(schedule, edge) != now_open:
                return edge
    return None
