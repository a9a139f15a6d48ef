"""Writing ledger records as a table, JSON lines or CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson

from orchestrator.commands import parse_time
from orchestrator.events import AuditRecord
from orchestrator.ledger.export import write_records
from orchestrator.ledger.records import audit
from orchestrator.ledger.store import COLUMNS
from orchestrator.provenance import Provenance

AT = datetime(2026, 11, 22, 12, 0, 0, 123000, tzinfo=UTC)
RECORDS = [
    audit("inbound", "accepted", identity=("SM1",), at=AT, customer_id="c1", channel="sms",
          address="+15551230001", event_id="SM1"),
    audit("message_queued", "queued", identity=("msg_1",), at=AT, customer_id="c1", channel="sms",
          address="+15551230001", message_id="msg_1", provenance=Provenance("help", 1, "reply"),
          detail={"text": "Hi, \"you\"", "to": "+15551230001"}),
]  # fmt: skip


def _write(records: list[AuditRecord], fmt: str) -> str:
    out = io.StringIO()
    write_records(records, fmt, out)
    return out.getvalue()


def test_audit_ids_are_deterministic() -> None:
    again = audit("inbound", "accepted", identity=("SM1",), at=AT)
    assert again.record_id == RECORDS[0].record_id
    assert audit("inbound", "accepted", identity=("SM2",), at=AT).record_id != again.record_id


def test_jsonl_round_trips() -> None:
    lines = _write(RECORDS, "jsonl").splitlines()
    assert [AuditRecord.model_validate(orjson.loads(line)) for line in lines] == RECORDS


def test_csv_has_the_store_columns_and_one_row_per_record() -> None:
    rows = list(csv.reader(io.StringIO(_write(RECORDS, "csv"))))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == 1 + len(RECORDS)
    queued = dict(zip(COLUMNS, rows[2], strict=True))
    assert queued["message_id"] == "msg_1"
    assert queued["flow_version"] == "1"
    assert queued["reason"] == ""  # None is an empty cell
    assert orjson.loads(queued["detail"]) == RECORDS[1].detail
    assert parse_time(queued["occurred_at"]) == AT


def test_csv_of_nothing_is_just_the_header() -> None:
    assert _write([], "csv").splitlines() == [",".join(COLUMNS)]


def test_table_has_a_header_and_a_line_per_record() -> None:
    lines = _write(RECORDS, "table").splitlines()
    assert lines[0].split() == ["occurred_at", "step", "outcome", "channel", "address",
                                "customer_id", "flow_id", "external_id", "reason"]  # fmt: skip
    assert len(lines) == 3
    assert lines[2].split()[1:4] == ["message_queued", "queued", "sms"]
    assert all(line == line.rstrip() for line in lines)


def test_table_cuts_long_values() -> None:
    long = audit("x", "failed", identity=("1",), at=AT, reason="r" * 500)
    assert "r" * 60 in _write([long], "table")
    assert "r" * 61 not in _write([long], "table")


def test_table_says_when_there_is_nothing() -> None:
    assert _write([], "table") == "no records\n"


def test_jsonl_of_nothing_is_empty() -> None:
    assert _write([], "jsonl") == ""
