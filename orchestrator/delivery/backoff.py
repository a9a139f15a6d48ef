"""When a retryable send is tried again: exponential backoff with full jitter. PURE.

The n-th retry waits a random time between 0 and ``min(cap, base * 2 ** (n - 1))`` ("full
jitter", from AWS's *Exponential Backoff and Jitter*): dispatchers that failed together do not
retry together. A provider's ``Retry-After`` is honoured as a floor, up to ``retry_after_max``:
a provider that asks for 5 s gets at least 5 s, one that asks for an hour gets the cap, and the
attempts stay bounded either way.

Example::

    delay = retry_delay(attempt=2, base=0.2, cap=30, retry_after=None, draw=random.uniform)
"""

from __future__ import annotations

from collections.abc import Callable

Draw = Callable[[float, float], float]
"""``random.uniform``'s shape: a number between the two bounds (tests pass a fixed one)."""


def ceiling(attempt: int, base: float, cap: float) -> float:
    """The longest the ``attempt``-th failure (from 1) may wait: ``base`` doubled per attempt,
    at most ``cap``."""
    return min(cap, base * 2.0 ** max(attempt - 1, 0))


def retry_delay(
    attempt: int,
    base: float,
    cap: float,
    retry_after: float | None,
    draw: Draw,
    retry_after_max: float = 60.0,
) -> float:
    """Seconds to wait after the ``attempt``-th failed attempt: full jitter under
    :func:`ceiling`, and at least the provider's ``retry_after`` (up to ``retry_after_max``)."""
    delay = draw(0.0, ceiling(attempt, base, cap))
    if retry_after:
        delay = max(delay, min(retry_after, retry_after_max))
    return delay


def no_jitter(_low: float, high: float) -> float:
    """A draw that always takes the ceiling: the plain doubling, for tests and ``jitter=false``."""
    return high
