"""A provider outcome Redis failed to record is kept, and written before the retried batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from orchestrator.events import AuditRecord
from orchestrator.ledger.records import audit
from orchestrator.state.store import FinishedSend, RedisStateStore
from orchestrator.workers.outcomes import Outcome, Outcomes
from orchestrator.workers.publisher import Publisher


class FlakyStore:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.written: list[tuple[str, dict[str, Any]]] = []

    async def settle_sends(
        self,
        sends: Sequence[FinishedSend],
        *,
        released: Sequence[str] = (),
        deferred: Sequence[object] = (),
        rider: object = None,
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise RedisConnectionError("connection reset")
        self.written += [(s.message_id, s.entry) for s in sends]


class RecordingPublisher:
    def __init__(self) -> None:
        self.audits: list[AuditRecord] = []

    async def audit(self, record: AuditRecord) -> None:
        self.audits.append(record)


def outcome(message_id: str) -> Outcome:
    row = audit(
        "provider_accepted", "queued", identity=(message_id,), at=datetime(2026, 11, 22, tzinfo=UTC)
    )
    return Outcome(message_id, {"state": "accepted"}, "sms.twilio", ("SM1",), row)


def book(store: FlakyStore, pub: RecordingPublisher) -> Outcomes:
    return Outcomes(cast(RedisStateStore, store), cast(Publisher, pub), deadline_s=0.0, pause_s=0.0)


async def test_an_outcome_redis_refused_is_kept_and_written_before_the_next_batch() -> None:
    store, pub = FlakyStore(failures=2), RecordingPublisher()
    outcomes = book(store, pub)
    with pytest.raises(RedisConnectionError):
        await outcomes.record(outcome("msg_1"))
    assert len(outcomes) == 1
    assert pub.audits == []

    with pytest.raises(RedisConnectionError):  # still down when the batch is retried
        await outcomes.write_kept()
    await outcomes.write_kept()
    assert store.written == [("msg_1", {"state": "accepted"})]
    assert [r.step for r in pub.audits] == ["provider_accepted"]

    outcomes.confirmed()
    assert len(outcomes) == 0


async def test_an_unconfirmed_outcome_is_written_again() -> None:
    store, pub = FlakyStore(failures=0), RecordingPublisher()
    outcomes = book(store, pub)
    await outcomes.record(outcome("msg_1"))
    # The batch's flush failed, so confirmed() was not reached: the next batch writes it again.
    await outcomes.write_kept()
    assert [m for m, _ in store.written] == ["msg_1", "msg_1"]
    outcomes.confirmed()
    await outcomes.write_kept()
    assert len(store.written) == 2
