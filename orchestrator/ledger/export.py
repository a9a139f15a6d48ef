"""Writing ledger records as a table for people, or JSON lines / CSV for tools."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import TextIO

import orjson

from orchestrator.events import AuditRecord
from orchestrator.ledger.store import COLUMNS

_TABLE = (
    "occurred_at",
    "step",
    "outcome",
    "channel",
    "address",
    "customer_id",
    "flow_id",
    "external_id",
    "reason",
)


def write_records(records: Sequence[AuditRecord], fmt: str, out: TextIO) -> None:
    """Write ``records`` to ``out`` as ``table``, ``jsonl`` or ``csv``."""
    docs = [r.model_dump(mode="json") for r in records]
    if fmt == "jsonl":
        for doc in docs:
            out.write(orjson.dumps(doc).decode() + "\n")
    elif fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for doc in docs:
            writer.writerow([_cell(doc.get(c)) for c in COLUMNS])
    else:
        _table(docs, out)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _table(docs: list[dict[str, object]], out: TextIO) -> None:
    if not docs:
        out.write("no records\n")
        return
    rows = [[_cell(d.get(c))[:60] for c in _TABLE] for d in docs]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_TABLE)]
    out.write("  ".join(c.ljust(w) for c, w in zip(_TABLE, widths, strict=True)).rstrip() + "\n")
    for row in rows:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")
