"""Riders together: each queues its commands in turn and reads back only its own answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.state.riders import together


class Pipe(list[str]):
    """A pipeline's queue: each command a string; ``len`` counts them."""


class Rider:
    def __init__(self, *commands: str) -> None:
        self.commands = commands
        self.answers: list[Any] | None = None

    def queue(self, pipe: Any) -> None:
        pipe.extend(self.commands)

    def read(self, raw: Sequence[Any]) -> None:
        self.answers = list(raw)


def test_each_rider_reads_the_answers_to_its_own_commands() -> None:
    first, empty, last = Rider("a", "b"), Rider(), Rider("c")
    rider = together(first, None, empty, last)
    assert rider is not None
    pipe = Pipe(["own"])  # commands queued before the riders are not theirs to read
    rider.queue(pipe)
    assert pipe == ["own", "a", "b", "c"]
    rider.read(["A", "B", "C"])
    assert (first.answers, empty.answers, last.answers) == (["A", "B"], [], ["C"])


def test_one_rider_is_itself_and_none_is_none() -> None:
    only = Rider("a")
    assert together(None, only) is only
    assert together(None, None) is None
