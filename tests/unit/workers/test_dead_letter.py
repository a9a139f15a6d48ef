"""A dead letter keeps the original key and value, and is the same on every redelivery."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from orchestrator.errors import BadRecord
from orchestrator.workers.base import KEY_TEXT_MAX, dead_letter_of
from tests.unit.workers.test_batch import FakeRecord

AT = datetime(2026, 11, 22, 12, tzinfo=UTC)
ERROR = BadRecord("not_json", "value is not JSON")


def test_the_dead_letter_and_its_row_are_deterministic() -> None:
    record = FakeRecord(
        topic="continuum.inbound.sms", partition=1, offset=7, key=b"+1555", value=b"x"
    )
    first = dead_letter_of(AT, "inbound", record, ERROR)
    second = dead_letter_of(AT, "inbound", record, ERROR)
    assert first == second
    assert first[0].id == "dlq:continuum.inbound.sms:1:7"
    assert first[1].address == "+1555"
    assert "key_b64" not in first[1].detail


def test_a_key_that_is_not_utf8_is_kept_in_base64() -> None:
    record = FakeRecord(key=b"\xff\x00k", value=b"\xff")
    letter, row = dead_letter_of(AT, "inbound", record, ERROR)
    assert letter.data is not None
    assert base64.b64decode(letter.data["key_b64"]) == b"\xff\x00k"
    assert base64.b64decode(letter.data["original_b64"]) == b"\xff"
    assert row.address == "\ufffd\x00k"
    assert base64.b64decode(row.detail["key_b64"]) == b"\xff\x00k"


def test_a_long_key_is_cut_in_the_row_and_kept_whole_in_base64() -> None:
    key = b"k" * (KEY_TEXT_MAX + 10)
    letter, row = dead_letter_of(AT, "inbound", FakeRecord(key=key), ERROR)
    assert row.address is not None
    assert len(row.address) <= KEY_TEXT_MAX
    assert base64.b64decode(row.detail["key_b64"]) == key
    assert letter.data is not None
    assert base64.b64decode(letter.data["key_b64"]) == key
