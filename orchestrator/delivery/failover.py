"""Which provider of a medium sends a message, from the breakers; and which errors move it.

A medium's providers form a chain, in the order ``CONTINUUM_CHANNELS__<MEDIUM>`` lists them
(``twilio,vonage``). :func:`choose` picks the first provider not yet tried for this message
whose breaker lets a send through (closed, or half-open with a probe slot left). When none
does, the :class:`Choice` has no provider and says when the first open breaker half-opens:
the dispatcher defers the message to then (no attempt is used) if it tried none yet, and
otherwise treats the last error as it would without failover (retry later, or fail).

A message moves to the next provider only when its attempt is *known* to have failed
(:func:`moves`): could not connect, 5xx, 429. Never on an unknown outcome (the provider may
have the message: a second provider could deliver it twice) and never on a refusal of the
message itself (a bad number, an opted-out recipient: every provider would refuse it too).
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from channels.errors import ConnectionFailed, OutcomeUnknown, SendError, Throttled
from orchestrator.delivery.breaker import Result, State


@dataclass(frozen=True, slots=True)
class View:
    """What one breaker allows this batch: its state, the sends it still lets through, and
    (open, or half-open with every probe slot taken) when it may let one through again, in
    epoch ms."""

    state: State = "closed"
    slots: int = 1 << 30
    reopens_ms: int | None = None


CLOSED = View()
"""A provider without a breaker view (none read yet) is treated as closed."""


@dataclass(frozen=True, slots=True)
class Choice:
    """The provider to send with, or None and when to try again (epoch ms; None when every
    provider of the chain was tried)."""

    provider: str | None
    retry_ms: int | None = None


def choose(
    chain: Sequence[str], breaker_states: Mapping[str, View], tried: Collection[str]
) -> Choice:
    """The first provider of ``chain`` not in ``tried`` whose breaker lets a send through."""
    reopening: list[int] = []
    for provider in chain:
        if provider in tried:
            continue
        v = breaker_states.get(provider, CLOSED)
        if v.slots > 0 and v.state != "open":
            return Choice(provider)
        if v.reopens_ms is not None:
            reopening.append(v.reopens_ms)
    return Choice(None, min(reopening) if reopening else None)


def take(breaker_states: dict[str, View], provider: str) -> None:
    """Use one of ``provider``'s slots (after :func:`choose` picked it)."""
    v = breaker_states.get(provider, CLOSED)
    breaker_states[provider] = View(v.state, max(0, v.slots - 1), v.reopens_ms)


def moves(error: SendError) -> bool:
    """Whether a send that failed with ``error`` may go by another provider: only a failure
    known to have left the message undelivered (retryable), never an unknown outcome, and not a
    429: a provider that throttles is up, and the message waits for its ``Retry-After``."""
    return error.retryable and not isinstance(error, OutcomeUnknown | Throttled)


def result_of(error: SendError | None) -> Result:
    """What a call's end tells its provider's breaker: a provider that answered, even to
    refuse the message, is up; one that could not be reached (a transport error, no status)
    is a ``connection`` failure; 5xx and no answer are failures. A 429 is an answer: the
    provider is up and asks for a slower pace, which is the rate limiter's business."""
    if error is None or isinstance(error, Throttled):
        return "success"
    if not (error.retryable or isinstance(error, OutcomeUnknown)):
        return "success"
    if isinstance(error, ConnectionFailed) and error.status_code is None:
        return "connection"
    return "failure"
