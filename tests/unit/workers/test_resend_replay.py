"""A redelivered send whose entry is settled writes the dispatcher's outcome row again, and only
when the row is the dispatcher's and the entry is the send ledger's (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.ledger.records import audit
from orchestrator.workers.resend import refuse_resend
from tests.fakes import FakeRecord, RecordingPublisher
from tests.unit.sends import message_send

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
NO_GUARD: Any = None  # only a ``blocked`` entry asks the guard


async def _steps(entry: dict[str, Any], *, stored: bool) -> RecordingPublisher:
    pub = RecordingPublisher()
    await refuse_resend(pub, NO_GUARD, FakeRecord(), message_send(), entry, AT, stored=stored)
    return pub


async def test_a_rejected_entry_s_row_is_written_again_under_its_first_id() -> None:
    entry = {"state": "rejected", "code": "response_status", "provider": "sms.twilio"}
    pub = await _steps(entry, stored=True)
    again, refused = pub.audits
    first = audit("provider_rejected", "response_status", identity=("msg_1",), at=AT)
    assert (again.step, again.outcome, again.record_id) == (
        "provider_rejected",
        "response_status",
        first.record_id,
    )
    assert (again.occurred_at, again.provider, again.external_id) == (AT, "sms.twilio", None)
    assert (refused.step, refused.outcome) == ("duplicate_send_refused", "rejected")


@pytest.mark.parametrize("code", ["reconciled", "receipt"])
async def test_an_entry_made_known_by_the_reconciler_or_a_receipt_replays_its_unknown_row(
    code: str,
) -> None:
    """It was ``unknown`` first: a dispatcher killed before that row was confirmed lost it, and
    the reconciler beside the next one can settle the entry before the batch is redelivered."""
    entry = {"state": "accepted", "code": code, "external_ids": ["SM1"], "provider": "sms.twilio"}
    pub = await _steps(entry, stored=True)
    assert pub.steps() == [("provider_unknown", "unknown"), ("duplicate_send_refused", "accepted")]
    again = pub.audits[0]
    first = audit("provider_unknown", "unknown", identity=("msg_1",), at=AT)
    assert (again.record_id, again.provider, again.external_id) == (
        first.record_id,
        "sms.twilio",
        None,
    )


async def test_a_repeat_within_one_batch_replays_nothing() -> None:
    pub = await _steps({"state": "accepted"}, stored=False)
    assert pub.steps() == [("duplicate_send_refused", "accepted")]


async def test_a_failed_entry_has_one_row_per_attempt_and_none_is_replayed() -> None:
    pub = await _steps({"state": "failed", "code": "connection_failed"}, stored=True)
    assert pub.steps() == [("duplicate_send_refused", "failed")]
