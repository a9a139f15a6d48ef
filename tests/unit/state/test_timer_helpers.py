"""Pure timer helpers: the stored payload, and the latest cron tick across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from orchestrator.state.timers import TimerSpec
from orchestrator.workers.scheduler import latest_tick

LONDON = "Europe/London"  # 2026: clocks go forward Mar 29 01:00 GMT, back Oct 25 02:00 BST


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def test_timer_spec_round_trips_through_json() -> None:
    due = datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=1)))
    timer = TimerSpec("tmr_1", "c42", due, "wait", name="reminder", flow_id="f", step="s")
    assert TimerSpec.from_json(timer.to_json()) == timer
    assert TimerSpec.from_json(TimerSpec("t", "c", due, "expiry").to_json()).name is None


def test_timer_spec_refuses_a_naive_due_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        TimerSpec("tmr_1", "c42", datetime(2026, 1, 1), "wait")  # noqa: DTZ001


@pytest.mark.parametrize(
    ("cron", "zone", "now", "expected"),
    [
        pytest.param("0 9 * * *", LONDON, utc(2026, 3, 27, 8, 30), utc(2026, 3, 26, 9), id="gmt"),
        pytest.param("0 9 * * *", LONDON, utc(2026, 3, 30, 8, 30), utc(2026, 3, 30, 8), id="bst"),
        pytest.param("0 9 * * *", LONDON, utc(2026, 3, 30, 8), utc(2026, 3, 30, 8), id="exact"),
        pytest.param("* * * * *", "UTC", utc(2026, 1, 1, 0, 0, 59), utc(2026, 1, 1), id="minute"),
        # 01:30 does not exist on Mar 29: it fires at the end of the gap, 02:00 BST.
        pytest.param(
            "30 1 * * *", LONDON, utc(2026, 3, 29, 1, 45), utc(2026, 3, 29, 1), id="skipped"
        ),
        pytest.param(
            "30 1 * * *", LONDON, utc(2026, 3, 29, 0, 59), utc(2026, 3, 28, 1, 30), id="pre-gap"
        ),
        # 01:30 happens twice on Oct 25: the tick is the first (BST) one, even during the second.
        pytest.param(
            "30 1 * * *", LONDON, utc(2026, 10, 25, 1, 10), utc(2026, 10, 25, 0, 30), id="fold"
        ),
        pytest.param(
            "*/15 * * * *",
            LONDON,
            utc(2026, 10, 25, 1, 20),
            utc(2026, 10, 25, 1, 15),
            id="repeated-hour",
        ),
    ],
)
def test_latest_tick(cron: str, zone: str, now: datetime, expected: datetime) -> None:
    tick = latest_tick(cron, zone, now)
    assert tick == expected
    assert tick is not None
    assert tick.utcoffset() == timedelta(0)
