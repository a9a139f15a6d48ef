"""Quiet hours and holidays, in the recipient's time zone (the strictest when it is unsure)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_zones

from orchestrator.policy.spec import Policy

_SEARCH_DAYS = 8
NO_ALLOWED_TIME = timedelta(days=_SEARCH_DAYS)
"""``next_allowed`` answers ``now + NO_ALLOWED_TIME`` when no moment that far ahead is allowed
in every zone; the policy then drops the message rather than deferring it for ever."""


def zones_for(policy: Policy, timezone: str | None, address: str | None) -> list[str]:
    """The recipient's zone: from state, else every zone its phone number may be in."""
    if timezone and _valid(timezone):
        return [timezone]
    if address and address.startswith("+"):
        zones = _number_zones(address)
        if zones:
            return list(zones)
    return [policy.quiet_hours.default_timezone]


ZONE_CACHE_SIZE = 65_536
"""Numbers whose zones are remembered per process (a few MB at most). The answer depends only
on the number and the ``phonenumbers`` metadata, whose lookups (``importlib`` loading its
prefix tables) cost about a tenth of a decision worker's time when done per send."""


@lru_cache(maxsize=ZONE_CACHE_SIZE)
def _number_zones(address: str) -> tuple[str, ...]:
    """Every valid zone an E.164 ``address`` may be in, sorted; empty when unknown."""
    try:
        number = phonenumbers.parse(address, None)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(sorted(z for z in phone_zones.time_zones_for_number(number) if _valid(z)))


def next_allowed(policy: Policy, purpose: str, zones: list[str], now: datetime) -> datetime | None:
    """``None`` when a ``purpose`` message may go now in every zone; else the earliest time it
    may go in all of them (quiet windows and holidays)."""
    if _allowed_everywhere(policy, purpose, zones, now):
        return None
    candidates = sorted(
        c for zone in zones for c in _boundaries(policy, purpose, ZoneInfo(zone), now) if c > now
    )
    for moment in candidates:
        if _allowed_everywhere(policy, purpose, zones, moment):
            return moment
    return now + NO_ALLOWED_TIME


def is_reply(policy: Policy, purpose: str, last_inbound: datetime | None, at: datetime) -> bool:
    """Whether a ``purpose`` message at ``at`` answers the customer's own message (their last
    inbound at ``last_inbound``, on any channel) within ``reply_window``: quiet hours do not
    hold such a reply for the ``reply_purposes`` (service and transactional; never marketing).
    """
    q = policy.quiet_hours
    if purpose not in q.reply_purposes or last_inbound is None:
        return False
    return timedelta(0) <= at - last_inbound <= q.reply_window


def latest_inbound(last_inbound: dict[str, str], *also: datetime | None) -> datetime | None:
    """The latest of the customer's inbound messages (``state.last_inbound``) and ``also``."""
    seen = [a if a.tzinfo else a.replace(tzinfo=UTC) for a in also if a is not None]
    for raw in last_inbound.values():
        try:
            at = datetime.fromisoformat(raw)
        except (TypeError, ValueError):
            continue
        seen.append(at if at.tzinfo else at.replace(tzinfo=UTC))
    return max(seen) if seen else None


def held_now(policy: Policy, zones: list[str], now: datetime) -> dict[str, datetime]:
    """The purposes quiet hours hold back at ``now`` in ``zones``, each with when it may go
    again (replies within ``reply_window`` excepted: see :func:`is_reply`)."""
    held = {}
    for purpose in ("marketing", "service", "transactional"):
        until = next_allowed(policy, purpose, zones, now)
        if until is not None:
            held[purpose] = until
    return held


def describe_held(policy: Policy, now: datetime, zones: list[str] | None = None) -> str | None:
    """One line for a console: what quiet hours hold back now in ``zones`` (the policy's
    ``default_timezone`` when not given), or ``None`` when nothing is held."""
    where = zones or [policy.quiet_hours.default_timezone]
    held = held_now(policy, where, now)
    if not held:
        return None
    q = policy.quiet_hours
    window = _span(q.reply_window)
    parts = []
    for purpose, until in held.items():
        local = until.astimezone(ZoneInfo(where[0])).strftime("%H:%M")
        exempt = f", except replies within {window}" if purpose in q.reply_purposes else ""
        parts.append(f"{purpose} until {local}{exempt}")
    return f"quiet hours now ({', '.join(where)}): holding back {'; '.join(parts)}"


def _span(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def quiet_now(policy: Policy, purpose: str, zone: str, when: datetime) -> bool:
    """Whether ``when`` is inside a quiet window or a holiday for ``purpose`` in ``zone``."""
    local = when.astimezone(ZoneInfo(zone))
    q = policy.quiet_hours
    if purpose in q.holiday_purposes and local.date() in q.holidays:
        return True
    window = q.windows.get(purpose)  # type: ignore[call-overload]
    if window is None:
        return False
    start, end, now_t = _t(window.start), _t(window.end), local.time()
    if start <= end:
        return start <= now_t < end
    return now_t >= start or now_t < end


def _allowed_everywhere(policy: Policy, purpose: str, zones: list[str], when: datetime) -> bool:
    return not any(quiet_now(policy, purpose, zone, when) for zone in zones)


def _boundaries(policy: Policy, purpose: str, zone: ZoneInfo, now: datetime) -> list[datetime]:
    window = policy.quiet_hours.windows.get(purpose)  # type: ignore[call-overload]
    local = now.astimezone(zone)
    out = []
    for day in range(_SEARCH_DAYS + 1):
        date = local.date() + timedelta(days=day)
        out.append(datetime.combine(date, time(0, 0), tzinfo=zone))
        if window is not None:
            out.append(datetime.combine(date, _t(window.end), tzinfo=zone))
    return out


def _t(hhmm: str) -> time:
    hour, minute = (int(p) for p in hhmm.split(":"))
    return time(hour, minute)


@lru_cache(maxsize=1024)
def _valid(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
