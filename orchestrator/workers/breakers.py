"""The dispatcher's view of the providers' circuit breakers during one batch.

At the top of a batch, :meth:`Breakers.reading` rides in the pipeline that loads the customer
states (:mod:`orchestrator.state.breakers`): each provider a send of the batch may use is
viewed, taking half-open probe slots for as many sends. Each provider call's end is noted
(:meth:`Breakers.note`), and :meth:`Breakers.recording` rides in the settle pipeline. Neither
adds a round trip. Gauges and transition counters are updated from the scripts' answers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from orchestrator.delivery.breaker import GAUGE, Result, State
from orchestrator.delivery.failover import View, take
from orchestrator.metrics import Metrics
from orchestrator.settings import BreakerSettings
from orchestrator.state.breakers import queue_record, queue_views, read_record, read_views


class Breakers:
    """One dispatcher's breakers: this batch's views, and the results to record."""

    def __init__(self, settings: BreakerSettings, metrics: Metrics) -> None:
        self._settings, self._metrics = settings, metrics
        self.views: dict[str, View] = {}
        self._results: dict[str, list[Result]] = defaultdict(list)

    def reading(self, chains: Iterable[Sequence[str]], now: datetime) -> _Reading:
        """A rider that views every provider of ``chains`` (one chain per send of the batch)
        and keeps the answers in :attr:`views`."""
        wants: Counter[str] = Counter()
        for chain in chains:
            wants.update(dict.fromkeys(chain, 1))
        self.views = {}
        return _Reading(self, dict(sorted(wants.items())), _ms(now))

    def take(self, provider: str) -> None:
        """A send goes by ``provider``: one of its slots is used."""
        take(self.views, provider)

    def note(self, provider: str, result: Result) -> None:
        """One call to ``provider`` ended so."""
        self._results[provider].append(result)

    def recording(self, now: datetime) -> _Recording | None:
        """A rider that records the results noted since the last one (None if there are none)."""
        if not self._results:
            return None
        results, self._results = dict(self._results), defaultdict(list)
        return _Recording(self, results, _ms(now))

    def _moved(self, provider: str, state: State, moved: Sequence[State]) -> None:
        self._metrics.breaker_state.labels(provider).set(GAUGE[state])
        for to in moved:
            self._metrics.breaker_transitions_total.labels(provider, to).inc()


class _Reading:
    def __init__(self, owner: Breakers, wants: Mapping[str, int], now_ms: int) -> None:
        self._owner, self._wants, self._now_ms = owner, wants, now_ms

    def queue(self, pipe: Any) -> None:
        queue_views(pipe, self._wants, self._now_ms, self._owner._settings)

    def read(self, raw: Sequence[Any]) -> None:
        seen = read_views(self._wants, raw, self._owner._settings)
        for provider, s in seen.items():
            self._owner.views[provider] = s.view
            self._owner._moved(provider, s.view.state, s.moved)


class _Recording:
    def __init__(self, owner: Breakers, results: Mapping[str, list[Result]], now_ms: int) -> None:
        self._owner, self._results, self._now_ms = owner, results, now_ms

    def queue(self, pipe: Any) -> None:
        queue_record(pipe, self._results, self._now_ms, self._owner._settings)

    def read(self, raw: Sequence[Any]) -> None:
        for provider, (state, moved) in read_record(self._results, raw).items():
            self._owner._moved(provider, state, moved)


def _ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)
