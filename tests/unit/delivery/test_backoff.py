"""Retry delays: full jitter under a doubling ceiling, Retry-After as a floor, both capped."""

from __future__ import annotations

import random

import pytest

from orchestrator.delivery.backoff import ceiling, no_jitter, retry_delay


def test_the_ceiling_doubles_per_attempt_up_to_the_cap() -> None:
    assert [ceiling(n, 0.2, 1.0) for n in (1, 2, 3, 4, 5)] == [0.2, 0.4, 0.8, 1.0, 1.0]


def test_without_jitter_the_delay_is_the_ceiling() -> None:
    assert retry_delay(3, 0.5, 30.0, None, no_jitter) == 2.0


def test_full_jitter_draws_between_zero_and_the_ceiling() -> None:
    seen: list[tuple[float, float]] = []

    def draw(low: float, high: float) -> float:
        seen.append((low, high))
        return high / 4

    assert retry_delay(4, 0.2, 30.0, None, draw) == pytest.approx(0.4)
    assert seen == [(0.0, pytest.approx(1.6))]


def test_jittered_delays_spread_and_stay_under_the_ceiling() -> None:
    rng = random.Random(7)
    delays = [retry_delay(3, 0.5, 30.0, None, rng.uniform) for _ in range(200)]
    assert all(0.0 <= d <= 2.0 for d in delays)
    assert len({round(d, 3) for d in delays}) > 150  # not one herd


@pytest.mark.parametrize(
    ("retry_after", "expected"), [(5.0, 5.0), (600.0, 60.0), (0.1, 0.8), (None, 0.8)]
)
def test_retry_after_is_a_floor_up_to_its_cap(retry_after: float | None, expected: float) -> None:
    assert retry_delay(3, 0.2, 30.0, retry_after, no_jitter, retry_after_max=60.0) == expected


def test_a_jittered_delay_never_goes_below_retry_after() -> None:
    assert retry_delay(1, 0.2, 30.0, 3.0, lambda low, high: low) == 3.0
