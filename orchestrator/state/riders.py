"""Several riders (:class:`~orchestrator.state.protocols.Rider`) in one pipeline.

Example::

    rider = together(breakers.recording(now), checks.riding(scheduled))
    await store.settle_sends(finished, rider=rider)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.state.protocols import Rider


class _Together:
    def __init__(self, riders: Sequence[Rider]) -> None:
        self._riders = riders
        self._sizes: list[int] = []

    def queue(self, pipe: Any) -> None:
        self._sizes = []
        for rider in self._riders:
            before = len(pipe)
            rider.queue(pipe)
            self._sizes.append(len(pipe) - before)

    def read(self, raw: Sequence[Any]) -> None:
        start = 0
        for rider, size in zip(self._riders, self._sizes, strict=True):
            rider.read(raw[start : start + size])
            start += size


def together(*riders: Rider | None) -> Rider | None:
    """One rider that queues each of ``riders`` in turn and hands each its own answers (None
    when none is given)."""
    kept = [r for r in riders if r is not None]
    if len(kept) <= 1:
        return kept[0] if kept else None
    return _Together(kept)
