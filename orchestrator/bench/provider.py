"""What reached the provider: the sandbox's message list and the ledger's receipts.

The sandbox records each provider request's arrival time (``received_at``); the ledger holds
the dispatcher's ``provider_*`` rows and the status worker's ``status_changed`` rows. Both are
filtered to one scenario's address block and start time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import httpx

from orchestrator.bench.load import address


def sms_prefix(block: int) -> str:
    """The start of every SMS address of ``block`` (``load.address``)."""
    return address("sms", 0, block)[:-6]


@dataclass(frozen=True, slots=True)
class Requests:
    """The sandbox's provider requests of one block: first arrival per number, and repeats."""

    first_at: dict[str, float]
    duplicates: int

    @property
    def count(self) -> int:
        return len(self.first_at)


async def sandbox_requests(sandbox_url: str, block: int, since: float) -> Requests:
    """The provider requests the sandbox took for ``block`` since ``since`` (Unix seconds)."""
    async with httpx.AsyncClient(timeout=120) as http:
        resp = await http.get(f"{sandbox_url}/_sandbox/messages")
        resp.raise_for_status()
    prefix = sms_prefix(block)
    mine = [
        m for m in resp.json() if m["to"].startswith(prefix) and m.get("received_at", 0) >= since
    ]
    per_number = Counter(m["to"] for m in mine)
    first: dict[str, float] = {}
    for m in mine:
        first[m["to"]] = min(first.get(m["to"], float("inf")), float(m["received_at"]))
    return Requests(first, sum(n - 1 for n in per_number.values()))


async def ledger_count(
    database: str, block: int, since: float, *, step: str, outcome: str | None = None
) -> tuple[int, float | None]:
    """(distinct addresses, latest recorded_at) of ledger rows of ``step`` (a LIKE pattern)."""
    conn = await asyncpg.connect(database)
    try:
        row = await conn.fetchrow(
            "SELECT count(DISTINCT address), max(recorded_at) FROM ledger"
            " WHERE step LIKE $1 AND ($2::text IS NULL OR outcome = $2)"
            " AND address LIKE $3 AND recorded_at >= $4",
            step,
            outcome,
            sms_prefix(block) + "%",
            datetime.fromtimestamp(since, UTC),
        )
    finally:
        await conn.close()
    assert row is not None  # noqa: S101 - an aggregate always returns a row
    latest = row[1].timestamp() if row[1] is not None else None
    return int(row[0]), latest
