"""``flows replay``: the comparison, on records as the ledger holds them (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrator.events import AuditRecord
from orchestrator.flowfiles import load_flows
from orchestrator.flowtools.replay import Handling, compare
from tests.unit.flowtools.helpers import HOSTS, ROOT, flow_yaml, load

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CURRENT = load_flows(ROOT / "flows", HOSTS)


def _inbound(n: int, customer: str, text: str, minutes: int) -> AuditRecord:
    return AuditRecord(
        record_id=f"r{n}",
        occurred_at=T0 + timedelta(minutes=minutes),
        step="inbound_received",
        outcome="accepted",
        customer_id=customer,
        channel="sms",
        address="+15550000" + customer,
        event_id=f"SM{n}",
        detail={"text": text, "to": "+15559990000"},
    )


def _matched(n: int, flow_id: str) -> AuditRecord:
    return AuditRecord(
        record_id=f"d{n}",
        occurred_at=T0,
        step="decision",
        outcome="flow_matched",
        event_id=f"sms:SM{n}",
        flow_id=flow_id,
        flow_version=1,
    )


INBOUND = [
    _inbound(1, "c1", "JOIN", 0),
    _inbound(2, "c2", "where is my order", 1),
    _inbound(3, "c1", "yes", 2),  # answers welcome's question: a continuation
    _inbound(4, "c2", "hi there", 3),
]


def test_the_same_flows_change_nothing() -> None:
    report = compare(INBOUND, CURRENT, CURRENT)
    assert report.changes == []
    assert report.summary() == "4 messages replayed, 0 decisions would change"


def test_a_new_keyword_flow_takes_messages_over(tmp_path: Path) -> None:
    for path in (ROOT / "flows").glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    steps = "  - {id: hi, type: send, purpose: service, template: Hello!}\n"
    candidate = load(
        tmp_path,
        flow_yaml(
            steps,
            trigger="{type: message, match: any_word, words: [hi, order]}",
            head="priority: 70\n",
        ),
        name="greet.yaml",
    )
    report = compare(INBOUND, CURRENT, candidate)
    assert [str(c) for c in report.changes] == [
        "sms:SM2  c2  'where is my order' : order-status -> t",
        "sms:SM4  c2  'hi there' : order-status (continued) -> t",
    ]
    assert report.summary() == "4 messages replayed, 2 decisions would change"


def test_a_changed_reply_counts_even_in_the_same_flow(tmp_path: Path) -> None:
    text = (ROOT / "flows" / "help.yaml").read_text(encoding="utf-8")
    (tmp_path / "help.yaml").write_text(
        text.replace("Continuum Demo Store: we answer", "Demo Store answers"), encoding="utf-8"
    )
    records = [_inbound(1, "c9", "HELP", 0)]
    [change] = compare(records, load_flows(tmp_path, HOSTS), CURRENT).changes
    assert change.current.flow == change.candidate.flow == "help"
    assert " : help -> help  (reply 'Demo Store answers" in str(change)


def test_continuations_and_drift_from_the_ledger() -> None:
    report = compare(INBOUND, CURRENT, CURRENT, [_matched(1, "welcome"), _matched(2, "help")])
    assert report.drifted == 1  # SM2 started order-status on replay, help in the "ledger"
    replayed = compare(INBOUND[:1] + INBOUND[2:3], CURRENT, CURRENT, [_matched(1, "welcome")])
    assert replayed.drifted == 0  # "yes" continued welcome, as it did in production


def test_handling_strings() -> None:
    assert str(Handling("welcome", "x", started=False)) == "welcome (continued)"
    assert str(Handling(None, None)) == "-"
