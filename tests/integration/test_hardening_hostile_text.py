"""NUL bytes and invalid UTF-8 on every consumed topic: one dead letter per bad record, no loop.

PostgreSQL's text and jsonb refuse NUL. The ledger sink used to dead-letter a record it could
not store, the dead letter's audit record carried the same bytes back to the sink, and so on,
for ever (issue 7, A1). Now such text is stored escaped with its original in base64, and a
dead letter can never produce another.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Awaitable
from typing import Any

import asyncpg
import orjson
import pytest

from orchestrator.events import AUDIT_PREFIX
from orchestrator.media import MEDIA
from orchestrator.service import Service
from orchestrator.settings import Settings
from orchestrator.topics import Topics
from tests.integration.helpers import Pipeline, eventually, sms_event

SENDER = "+15551230101"
BIG_KEY, BIG_VALUE = b"\x00big", b"\x00" * 900_000
OTHER = "+15551230102"


def _bad_records() -> list[tuple[bytes, bytes]]:
    """(key, value) pairs every worker must dead-letter."""
    wrong_type = orjson.dumps(
        {"specversion": "1.0", "id": "bad\x00id", "source": "/x\x00", "type": "nope\x00"}
    )
    return [
        (b"a\x00b", b"x"),  # the reproduction in the issue
        (b"\xff\xfe\x00k", b"\xff\x00\xfe"),  # neither key nor value is UTF-8
        (b"k\x00\xc3", wrong_type),  # a CloudEvent of no type any worker takes
    ]


def _audit_with_nul() -> bytes:
    record = {
        "record_id": "aud_hostile_1",
        "occurred_at": "2026-11-22T12:00:00Z",
        "step": "operator_note",
        "outcome": "noted\x00",
        "address": "+1555\x000",
        "reason": "nul \x00 here",
        "detail": {"k\x00": ["v\x00", 1]},
    }
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": "aud_hostile_1",
            "source": "/test",
            "type": AUDIT_PREFIX + "operator_note",
            "data": record,
        }
    )


def _event(event_id: str, type_: str, data: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {"specversion": "1.0", "id": event_id, "source": "/test\x00", "type": type_, "data": data}
    )


def _valid_with_nul(topics: Topics) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value): records each worker must take, NUL and all, and not refuse."""
    return [
        (
            topics.inbound("sms"),
            SENDER.encode() + b"\x00",
            sms_event("SMnul", SENDER, "HELP\x00 me"),
        ),
        (
            topics.events,
            b"\x00",
            _event(
                "ev\x001",
                "event.order\x00delayed",
                {"customer": {"channel": "sms", "address": OTHER}, "note": "x\x00"},
            ),
        ),
        (
            topics.status,
            b"SM\x00",
            _event(
                "st\x001",
                "message.status",
                {"provider": "sms.twilio", "external_id": "SM\x00", "status": "delivered"},
            ),
        ),
        (
            topics.customer,
            b"cus_nul",
            _event(
                "SMnul2",
                "message.received",
                {"channel": "sms", "from": OTHER, "text": "a\x00b", "customer_id": "cus_nul"},
            ),
        ),
        (topics.audit, b"\x00", _audit_with_nul()),
    ]


async def _rows(settings: Settings, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _dead_lettered(settings: Settings) -> int:
    rows = await _rows(settings, "SELECT count(*) AS n FROM ledger WHERE step = 'dead_lettered'")
    return int(rows[0]["n"])


def _dlq_metric(service: Service) -> float:
    total = 0.0
    for family in service.metrics.registry.collect():
        if family.name == "continuum_dlq":
            total += sum(s.value for s in family.samples if s.name == "continuum_dlq_total")
    return total


@pytest.mark.timeout(120)
async def test_nul_and_invalid_utf8_on_every_topic_give_one_dead_letter_each(
    settings: Settings,
) -> None:
    service = Service(settings, sandbox=True)
    await service.start()
    try:
        await service.wait_consuming()
        consumed = sorted({t for r in service.runners for t in r.worker.topics()})
        # in-, outbound, bulk per medium; customer, events, status, audit, agent tasks
        assert len(consumed) == 3 * len(MEDIA) + 5
        async with Pipeline.open(service) as pipe:
            bad = 0
            for topic in consumed:
                for key, value in _bad_records():
                    await pipe.producer.send_and_wait(topic, value, key=key)
                    bad += 1
            # Too big to fit whole in a dead letter: it used to be retried for ever.
            await pipe.producer.send_and_wait(service.topics.inbound("sms"), BIG_VALUE, key=BIG_KEY)
            bad += 1
            # Valid records whose text PostgreSQL cannot store as it is: stored, not refused.
            for topic, key, value in _valid_with_nul(service.topics):
                await pipe.producer.send_and_wait(topic, value, key=key)

            await eventually(lambda: _dead_lettered(settings), lambda n: n >= bad, timeout=60)
            received = await eventually(
                lambda: _rows(settings, "SELECT * FROM ledger WHERE step = 'inbound_received'"),
                lambda rows: len(rows) == 1,
                timeout=30,
            )
            detail = orjson.loads(received[0]["detail"])
            assert detail["text"] == "HELP\\u0000 me"
            original = base64.b64decode(detail["_original_b64"]["detail.text"])
            assert original == b"HELP\x00 me"
            for column, want in [
                ("outcome", "order\\u0000delayed"),  # event_received of the business event
                ("external_id", "SM\\u0000"),  # status_changed of the unmatched receipt
            ]:

                def probe(column: str = column, want: str = want) -> Awaitable[list[Any]]:
                    return _rows(settings, f"SELECT 1 FROM ledger WHERE {column} = $1", want)

                await eventually(probe, lambda rows: len(rows) == 1, timeout=30)
            [hostile] = await _rows(
                settings, "SELECT * FROM ledger WHERE record_id = 'aud_hostile_1'"
            )
            assert hostile["reason"] == "nul \\u0000 here"
            kept = orjson.loads(hostile["detail"])["_original_b64"]
            assert base64.b64decode(kept["address"]) == b"+1555\x000"
            assert base64.b64decode(kept["detail.k\\u0000#key"]) == b"k\x00"

            # A sentinel behind the records on every partition of the audit topic: once it is
            # stored, the sink has handled everything before it, and nothing more may follow.
            for partition in range(settings.kafka.partitions):
                sentinel = orjson.loads(_audit_with_nul())
                sentinel["id"] = sentinel["data"]["record_id"] = f"aud_sentinel_{partition}"
                await pipe.producer.send_and_wait(
                    service.topics.audit, orjson.dumps(sentinel), partition=partition
                )
            await eventually(
                lambda: _rows(settings, "SELECT 1 FROM ledger WHERE record_id LIKE 'aud_sent%'"),
                lambda rows: len(rows) == settings.kafka.partitions,
                timeout=30,
            )
            letters = await pipe.read_topic(service.topics.dlq, bad + 100, timeout=3)
            assert len(letters) == bad
            [big] = [orjson.loads(r.value)["data"] for r in letters if r.key == BIG_KEY]
            assert big["original_size"] == len(BIG_VALUE)
            assert big["original_sha256"] == hashlib.sha256(BIG_VALUE).hexdigest()
            assert len({r.value for r in letters}) == bad
            assert await _dead_lettered(settings) == bad
            assert _dlq_metric(service) == bad
            # Each dead letter is keyed like its original, and keeps the exact key in base64.
            keys = [key for key, _ in _bad_records()] * len(consumed) + [BIG_KEY]
            assert sorted(r.key for r in letters) == sorted(keys)
            exact = [base64.b64decode(orjson.loads(r.value)["data"]["key_b64"]) for r in letters]
            assert sorted(exact) == sorted(keys)
    finally:
        stopping = time.monotonic()
        await asyncio.wait_for(service.stop(), timeout=30)
        took = time.monotonic() - stopping
    assert took < 10
