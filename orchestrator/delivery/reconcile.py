"""Which of a provider's messages is the send whose outcome we do not know (pure).

A send is ``unknown`` when its request went out but no answer came back (a read timeout, a
dropped connection, a crash between claiming and recording). The provider's list API
(:class:`channels.base.Reconcilable`) gives candidates; :func:`match` picks the one that is
ours, or says that none is, or that several could be:

- a candidate carrying our message id as its marker (SendGrid's custom args) is ours, whatever
  else it says; one carrying another marker is someone else's;
- otherwise (Twilio keeps no reference of ours) a candidate is ours when it went to the same
  address with the same text, was created between ``since - slack`` and ``until + slack``, and
  its external id is not already mapped to another of our sends (``taken``);
- exactly one such candidate is ``found``; none is ``not_found``; more than one is
  ``ambiguous`` (the same text sent twice to one address, neither mapped yet): nothing is
  guessed, the send stays unknown for the operator.

:func:`next_look` decides when to look again: every ``interval_s`` until ``keep_s`` after the
outcome was recorded, then never (the send stays unknown, listed for the operator).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from channels.base import FoundSend

Result = Literal["found", "not_found", "ambiguous"]


@dataclass(frozen=True, slots=True)
class Match:
    """What :func:`match` concluded, and the provider's message when it is ``found``."""

    result: Result
    found: FoundSend | None = None
    candidates: int = 0


def match(
    message_id: str,
    to: str,
    text: str,
    since: datetime,
    until: datetime,
    candidates: Sequence[FoundSend],
    *,
    taken: Collection[str] = (),
    slack: timedelta = timedelta(seconds=60),
) -> Match:
    """Pick ``message_id``'s message among the provider's ``candidates`` (see the module
    docstring); ``taken`` holds external ids already mapped to other sends."""
    for c in candidates:
        if c.marker == message_id:
            return Match("found", c, 1)
    lo, hi = since - slack, until + slack
    fits = [
        c
        for c in candidates
        if c.marker is None
        and c.external_id not in taken
        and c.to == to
        and (c.text is None or c.text == text)
        and (c.created_at is None or lo <= c.created_at <= hi)
    ]
    if len(fits) == 1:
        return Match("found", fits[0], 1)
    return Match("ambiguous" if fits else "not_found", None, len(fits))


def next_look(
    recorded_at: datetime, now: datetime, *, interval_s: float, keep_s: float
) -> datetime | None:
    """When to ask the provider again about a send recorded unknown at ``recorded_at``, after a
    look at ``now`` found nothing certain; None once ``keep_s`` has passed (give up)."""
    then = now + timedelta(seconds=interval_s)
    if then > recorded_at + timedelta(seconds=keep_s):
        return None
    return then


def look_after_error(
    recorded_at: datetime,
    now: datetime,
    *,
    retryable: bool,
    retry_after_s: float | None,
    interval_s: float,
    keep_s: float,
) -> datetime | None:
    """When to ask again after the provider could not be asked at ``now``: a retryable error
    (could not connect, 5xx, 429) waits an interval, or the provider's ``Retry-After`` when it
    is longer, until ``keep_s``; a permanent one (the provider's list API is not enabled for
    the account, a refused query) gives up at once (None)."""
    if not retryable:
        return None
    then = now + timedelta(seconds=max(interval_s, retry_after_s or 0.0))
    if then > recorded_at + timedelta(seconds=keep_s):
        return None
    return then
