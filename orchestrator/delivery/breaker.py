"""A provider's circuit breaker, as a pure state machine (no I/O, no clock: times are given).

::

    closed ──(error rate ≥ error_rate over window_s, with ≥ min_calls calls;
              or consecutive_failures connection failures in a row)──► open
    open ──(cool_down_s after it opened, seen by :func:`view`)──► half_open
    half_open: at most ``probes`` sends are let through (slots handed out by :func:`view`);
               a success ──► closed, a failure ──► open (the cool-down starts again)

The window is a tumbling one: it starts with the first call after the previous one ended. A
half-open breaker whose probe slots were all handed out and that heard nothing back for a whole
cool-down hands them out again (the prober died, or its sends never went).

Each call's result is one of :data:`OUTCOMES`: ``success`` (the provider answered, even a
permanent refusal of the message), ``failure`` (5xx, 429, no answer) or ``connection`` (could
not connect: a failure that also counts toward ``consecutive_failures``).

The state is shared by every dispatcher process in Redis (:mod:`orchestrator.state.breakers`,
whose Lua scripts are this module's two functions, line for line; an integration test runs the
same sequences through both). Times are epoch milliseconds, as the scripts keep them.

Example::

    b, slots, moved = view(Breaker(), now_ms, want=3, settings=s)  # closed: 3 slots
    b, moved = record(b, ["connection"] * 5, now_ms, s)            # open: moved == ("open",)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from orchestrator.settings import BreakerSettings

State = Literal["closed", "open", "half_open"]
Result = Literal["success", "failure", "connection"]
OUTCOMES: tuple[Result, ...] = ("success", "failure", "connection")
GAUGE: dict[str, int] = {"closed": 0, "half_open": 1, "open": 2}
"""The value of ``continuum_provider_breaker_state`` for each state."""


@dataclass(frozen=True, slots=True)
class Breaker:
    """One provider's breaker: its state and since when, and the counts that move it."""

    state: State = "closed"
    since_ms: int = 0
    """When it entered ``state`` (for half-open: when its probe slots were last handed out)."""
    window_ms: int = 0
    """When the current counting window began (closed only)."""
    calls: int = 0
    failures: int = 0
    consecutive: int = 0
    """Connection failures in a row."""
    probes: int = 0
    """Probe slots handed out in this half-open period."""

    def reopens_at(self, settings: BreakerSettings) -> int:
        """When an open breaker half-opens (epoch ms)."""
        return self.since_ms + _ms(settings.cool_down_s)


def view(
    b: Breaker, now_ms: int, want: int, settings: BreakerSettings
) -> tuple[Breaker, int, tuple[State, ...]]:
    """The breaker as of ``now_ms``, the sends it lets through of the ``want`` asked for (all
    when closed, a free probe slot each when half-open, none when open), and the states it
    moved to."""
    cool = _ms(settings.cool_down_s)
    moved: tuple[State, ...] = ()
    if b.state == "open" and now_ms >= b.since_ms + cool:
        b, moved = Breaker("half_open", now_ms), ("half_open",)
    elif b.state == "half_open" and b.probes >= settings.probes and now_ms >= b.since_ms + cool:
        b = replace(b, since_ms=now_ms, probes=0)
    if b.state == "closed":
        return b, want, moved
    if b.state == "open":
        return b, 0, moved
    slots = max(0, min(want, settings.probes - b.probes))
    return replace(b, probes=b.probes + slots), slots, moved


def record(
    b: Breaker, results: Sequence[Result], now_ms: int, settings: BreakerSettings
) -> tuple[Breaker, tuple[State, ...]]:
    """The breaker after ``results`` (in the order the calls ended), and the states it moved
    to. Results that come while it is open (calls made before it opened) change nothing."""
    moved: list[State] = []
    for result in results:
        if b.state == "half_open":
            b = (
                Breaker("closed", now_ms, now_ms)
                if result == "success"
                else Breaker("open", now_ms)
            )
            moved.append(b.state)
        elif b.state == "closed":
            b = _count(b, result, now_ms, settings)
            if b.state == "open":
                moved.append("open")
    return b, tuple(moved)


def _count(b: Breaker, result: Result, now_ms: int, settings: BreakerSettings) -> Breaker:
    if b.calls == 0 or now_ms >= b.window_ms + _ms(settings.window_s):
        b = replace(b, window_ms=now_ms, calls=0, failures=0)
    failed = result != "success"
    consecutive = 0 if result == "success" else b.consecutive + (result == "connection")
    b = replace(b, calls=b.calls + 1, failures=b.failures + failed, consecutive=consecutive)
    rate_hit = b.calls >= settings.min_calls and b.failures >= settings.error_rate * b.calls
    if rate_hit or b.consecutive >= settings.consecutive_failures:
        return Breaker("open", now_ms)
    return b


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
