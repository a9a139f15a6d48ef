"""Business hours in the queue's zone, holidays, overrides, and when the next change is."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.routing.schedule import is_open, next_change
from orchestrator.routing.spec import Schedule

LONDON = Schedule.model_validate(
    {
        "timezone": "Europe/London",
        "hours": {"mon-fri": "09:00-17:30", "sat": ["10:00-12:00", "13:00-24:00"]},
        "holidays": ["2026-12-25"],
    }
)
NEW_YORK = Schedule.model_validate(
    {"timezone": "America/New_York", "hours": {"mon-fri": "09:00-17:00"}}
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-12-07T08:59:59", False),  # Monday, before opening
        ("2026-12-07T09:00:00", True),  # opening is inclusive
        ("2026-12-07T17:29:59", True),
        ("2026-12-07T17:30:00", False),  # closing is exclusive
        ("2026-12-05T12:30:00", False),  # Saturday's lunch break
        ("2026-12-05T23:59:59", True),  # open until midnight
        ("2026-12-06T12:00:00", False),  # Sunday: no hours
        ("2026-12-25T12:00:00", False),  # a holiday, on a Friday
        ("2026-07-06T08:30:00", True),  # 09:30 in London in summer time
    ],
)
def test_open_in_the_queues_own_zone(at: str, expected: bool) -> None:
    assert is_open(LONDON, utc(at)) is expected


def test_the_zone_decides_not_utc() -> None:
    assert not is_open(NEW_YORK, utc("2026-12-07T13:59:00"))  # 08:59 in New York
    assert is_open(NEW_YORK, utc("2026-12-07T14:00:00"))


def test_no_schedule_is_always_open_and_an_override_beats_the_schedule() -> None:
    at = utc("2026-12-25T12:00:00")
    assert is_open(None, at)
    assert is_open(LONDON, at, "open")
    assert not is_open(LONDON, utc("2026-12-07T10:00:00"), "closed")
    assert not is_open(None, at, "closed")


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-12-07T08:00:00", "2026-12-07T09:00:00"),
        ("2026-12-07T09:00:00", "2026-12-07T17:30:00"),
        ("2026-12-04T18:00:00", "2026-12-05T10:00:00"),  # Friday evening: Saturday morning
        ("2026-12-05T12:00:00", "2026-12-05T13:00:00"),
        ("2026-12-05T13:00:00", "2026-12-06T00:00:00"),  # open until midnight, then closed
        ("2026-12-06T00:00:00", "2026-12-07T09:00:00"),  # Sunday has no hours
        ("2026-12-24T18:00:00", "2026-12-26T10:00:00"),  # Christmas is skipped
    ],
)
def test_the_next_change(at: str, expected: str) -> None:
    assert next_change(LONDON, utc(at)) == utc(expected)


def test_a_schedule_that_never_opens_has_no_next_change() -> None:
    assert next_change(Schedule(), utc("2026-12-07T00:00:00")) is None
    assert next_change(None, utc("2026-12-07T00:00:00")) is None
