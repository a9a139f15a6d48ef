"""``continuum flows replay``: which recorded messages a candidate set of flows would answer
differently from the flows in force.

Each customer's inbound messages (the ledger's ``inbound_received`` records) are played in time
order through two :class:`~orchestrator.flowtools.script.Conversation`\\ s, one per set of flows,
each starting from an empty state with the clock at each message's time (timers due in between
fire on the way). A message changes when the flow it starts (or the first reply it gets)
differs between the two. Calls are not made, so a run that reaches a ``call`` waits there, and
business events are not replayed: this compares how messages are *routed*, which is what a
trigger or priority edit changes.

Example::

    report = compare(inbound, catalogue_now, catalogue_candidate)
    print(report.summary())
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

import asyncpg
import orjson

from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decisions import Outcome, SendMessage
from orchestrator.engine.model import CustomerState, Event
from orchestrator.events import AuditRecord
from orchestrator.flowtools.script import Conversation
from orchestrator.ledger.store import COLUMNS


@dataclass(frozen=True, slots=True)
class Handling:
    """What one message led to: the flow it started (or continued) and the first reply's text."""

    flow: str | None
    reply: str | None
    started: bool = True

    def __str__(self) -> str:
        if self.flow is None:
            return "-"
        return self.flow if self.started else f"{self.flow} (continued)"


@dataclass(frozen=True, slots=True)
class Change:
    """One message that the candidate flows would handle differently."""

    event_id: str
    customer_id: str
    text: str
    current: Handling
    candidate: Handling

    def __str__(self) -> str:
        line = f"{self.event_id}  {self.customer_id}  {self.text!r} : {self.current} -> "
        line += str(self.candidate)
        if str(self.current) == str(self.candidate):
            line += f"  (reply {_cut(self.current.reply)} -> {_cut(self.candidate.reply)})"
        return line


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of a replay."""

    changes: list[Change]
    replayed: int
    drifted: int = 0
    """Messages for which the current flows, replayed, do not start the flow the ledger recorded
    (counted only when ``flow_matched`` records are given). The replay starts each customer from
    an empty state and sees only messages, so it is an approximation of production."""

    def summary(self) -> str:
        """``N messages replayed, M decisions would change``."""
        return f"{self.replayed} messages replayed, {len(self.changes)} decisions would change"


def compare(
    inbound: Iterable[AuditRecord],
    current: Catalogue,
    candidate: Catalogue,
    matched: Iterable[AuditRecord] = (),
) -> Report:
    """Replay ``inbound`` against both catalogues; report the messages handled differently.

    ``inbound`` are ``inbound_received`` records (provider id in ``event_id``, text in
    ``detail.text``); ``matched`` are ``flow_matched`` decision records, whose ``event_id`` is
    ``<channel>:<provider id>``, to measure how far the replay is from what really happened.
    """
    recorded = {r.event_id: r.flow_id for r in matched if r.event_id}
    ordered = sorted(
        (r for r in inbound if r.customer_id), key=lambda r: (r.customer_id or "", r.occurred_at)
    )
    changes: list[Change] = []
    replayed = drifted = 0
    for customer_id, records in groupby(ordered, key=lambda r: r.customer_id or ""):
        talks: list[Conversation] = []
        for record in records:
            if not talks:
                talks = [
                    Conversation(c, CustomerState(customer_id), record.occurred_at)
                    for c in (current, candidate)
                ]
            event = _event(record)
            now, then = (_handle(_play(t, event, record.occurred_at)) for t in talks)
            replayed += 1
            if recorded and recorded.get(event.event_id) != (now.flow if now.started else None):
                drifted += 1
            if now != then:
                text = str(record.detail.get("text", ""))
                changes.append(Change(event.event_id, customer_id, text, now, then))
    return Report(changes, replayed, drifted)


def _event(record: AuditRecord) -> Event:
    channel = record.channel or "sms"
    return Event(
        f"{channel}:{record.event_id}",
        "message",
        channel,
        record.address,
        record.detail.get("to"),
        str(record.detail.get("text") or ""),
    )


def _play(talk: Conversation, event: Event, at: datetime) -> Outcome:
    if at > talk.now:
        talk.advance(at - talk.now)
    return talk.send(event, at=at)


def _handle(outcome: Outcome) -> Handling:
    started = next((n.flow_id for n in outcome.notes if n.code == "flow_matched"), None)
    reply = next((d.text for d in outcome.decisions if isinstance(d, SendMessage)), None)
    if started is None and outcome.trace:
        return Handling(outcome.trace[0][0], reply, started=False)
    return Handling(started, reply)


def _cut(text: str | None, limit: int = 40) -> str:
    if text is None:
        return "(none)"
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


# ------------------------------------------------------------------------------- reading


_SELECT = f"SELECT {', '.join(COLUMNS)} FROM ledger "  # noqa: S608 - constants only


async def inbound_since(
    pool: asyncpg.Pool, since: datetime, until: datetime | None, limit: int
) -> list[AuditRecord]:
    """The first ``limit`` ``inbound_received`` records from ``since`` (until ``until``)."""
    sql = (
        _SELECT + "WHERE step = 'inbound_received' AND occurred_at >= $1 "
        "AND ($2::timestamptz IS NULL OR occurred_at < $2) ORDER BY occurred_at, seq LIMIT $3"
    )
    async with pool.acquire() as conn:
        rows = await conn.fetch(sql, since, until, limit)
    return [_record(row) for row in rows]


async def matched_for(pool: asyncpg.Pool, event_ids: Sequence[str]) -> list[AuditRecord]:
    """The ``flow_matched`` decision records of these events (``<channel>:<provider id>``)."""
    sql = _SELECT + (
        "WHERE step = 'decision' AND outcome = 'flow_matched' "
        "AND event_id = ANY($1::text[]) ORDER BY occurred_at, seq"
    )
    async with pool.acquire() as conn:
        rows = await conn.fetch(sql, list(event_ids))
    return [_record(row) for row in rows]


def _record(row: asyncpg.Record) -> AuditRecord:
    doc = dict(row)
    detail = doc.get("detail")
    doc["detail"] = orjson.loads(detail) if isinstance(detail, str | bytes) else (detail or {})
    return AuditRecord.model_validate({k: v for k, v in doc.items() if v is not None})
