"""A scripted conversation against the pure engine: events in, outcomes out, a fake clock.

Used by ``continuum flows test`` (with expectations), ``flows simulate`` (interactive) and
``flows replay``. Timers started by the engine are kept here and fired by :meth:`advance`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decide import decide
from orchestrator.engine.decisions import CancelTimer, Outcome, StartTimer
from orchestrator.engine.model import Context, CustomerState, Event


@dataclass
class Conversation:
    """One customer's conversation with the flows in ``catalogue``."""

    catalogue: Catalogue
    state: CustomerState
    now: datetime
    timers: dict[str, tuple[datetime, str | None]] = field(default_factory=dict)
    visited: set[tuple[str, str]] = field(default_factory=set)
    _seq: int = 0

    def _id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq}"

    def send(self, event: Event, at: datetime | None = None) -> Outcome:
        """Decide one event and keep its effects (state, timers, visited steps)."""
        outcome = decide(self.catalogue, self.state, event, Context(at or self.now))
        self.state = outcome.state
        for decision in outcome.decisions:
            if isinstance(decision, StartTimer):
                self.timers[decision.timer_id] = (decision.due, decision.name)
            elif isinstance(decision, CancelTimer):
                self.timers.pop(decision.timer_id, None)
        self.visited.update((flow, step) for flow, _, step in outcome.trace)
        return outcome

    def message(
        self,
        channel: str,
        sender: str,
        text: str,
        recipient: str | None = None,
        provider_id: str | None = None,
    ) -> Outcome:
        """The customer writes (``provider_id`` repeats a message id, as a redelivery would)."""
        event_id = f"{channel}:{provider_id}" if provider_id else self._id(f"{channel}:t")
        return self.send(Event(event_id, "message", channel, sender, recipient, text))

    def event(self, name: str, data: Mapping[str, Any] | None = None) -> Outcome:
        """A business event about the customer."""
        return self.send(Event(self._id("evt"), "event", name=name, data=dict(data or {})))

    def status(self, status: str, channel: str, data: Mapping[str, Any] | None = None) -> Outcome:
        """A delivery status for a message the customer was sent; ``data`` as the status
        event carries it (``final``, ``fallback_to``, ``fallback_from``)."""
        payload = {"status": status, "channel": channel, **(data or {})}
        return self.send(
            Event(self._id("st"), "status", channel=channel, name=status, data=payload)
        )

    def schedule(self, flow_id: str) -> Outcome:
        """A flow's schedule fires for this customer."""
        return self.send(Event(self._id("sch"), "schedule", name=flow_id))

    def call_result(self, data: Mapping[str, Any]) -> Outcome | None:
        """Answer the pending ``call`` (``None`` when no call is pending)."""
        run = self.state.run
        if run is None or run.call_id is None:
            return None
        payload = {
            "status": None,
            "json": None,
            "text": None,
            "error": None,
            **data,
            "call_id": run.call_id,
        }
        return self.send(Event(self._id("call"), "call_result", data=payload))

    def advance(self, by: timedelta) -> list[Outcome]:
        """Move the clock, firing every timer due by then in order (each at its due time)."""
        until = self.now + by
        outcomes = []
        while True:
            due = sorted((when, tid) for tid, (when, _) in self.timers.items() if when <= until)
            if not due:
                break
            when, timer_id = due[0]
            _, name = self.timers.pop(timer_id)
            self.now = max(self.now, when)
            outcomes.append(self.send(Event(timer_id, "timer", timer_id=timer_id, name=name)))
        self.now = until
        return outcomes


def merge(outcomes: list[Outcome], state: CustomerState) -> Outcome:
    """Several outcomes as one (for expectations over an ``advance``)."""
    return Outcome(
        decisions=tuple(d for o in outcomes for d in o.decisions),
        state=state,
        notes=tuple(n for o in outcomes for n in o.notes),
        trace=tuple(t for o in outcomes for t in o.trace),
    )


def initial_state(doc: Mapping[str, Any] | None) -> CustomerState:
    """A state from a test file's ``state:`` (customer id defaults to ``c1``)."""
    data = {"customer_id": "c1", **(doc or {})}
    return CustomerState.from_dict(data)
