"""Time zones per number are looked up once per process, and answer as the lookup does."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.policy import quiet_hours
from orchestrator.policy.spec import Policy

POLICY = Policy()


def test_a_number_is_looked_up_once_and_answers_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    quiet_hours._number_zones.cache_clear()
    calls: list[Any] = []
    real = quiet_hours.phone_zones.time_zones_for_number

    def counting(number: Any) -> Any:
        calls.append(number)
        return real(number)

    monkeypatch.setattr(quiet_hours.phone_zones, "time_zones_for_number", counting)
    first = quiet_hours.zones_for(POLICY, None, "+12125550123")
    again = [quiet_hours.zones_for(POLICY, None, "+12125550123") for _ in range(3)]
    assert first == ["America/New_York"]
    assert again == [first] * 3
    assert len(calls) == 1


def test_callers_cannot_change_the_cached_answer() -> None:
    zones = quiet_hours.zones_for(POLICY, None, "+15145550123")
    zones.append("Europe/Paris")
    assert "Europe/Paris" not in quiet_hours.zones_for(POLICY, None, "+15145550123")


@pytest.mark.parametrize("address", ["+1", "+999123", "+not-a-number"])
def test_unknown_numbers_still_get_the_default_zone(address: str) -> None:
    assert quiet_hours.zones_for(POLICY, None, address) == [POLICY.quiet_hours.default_timezone]


def test_the_cache_is_bounded() -> None:
    assert quiet_hours._number_zones.cache_info().maxsize == quiet_hours.ZONE_CACHE_SIZE
