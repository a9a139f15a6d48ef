"""A dead letter keeps the original key and value, and is the same on every redelivery."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

from orchestrator.errors import BadRecord
from orchestrator.workers.base import KEY_KEPT_MAX, KEY_TEXT_MAX, VALUE_KEPT_MAX, dead_letter_of
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


def test_a_dead_letter_fits_one_kafka_request_however_big_the_original() -> None:
    value, key = b"\x00" * (VALUE_KEPT_MAX + 300_000), b"k" * (KEY_KEPT_MAX + 10)
    letter, row = dead_letter_of(AT, "inbound", FakeRecord(key=key, value=value), ERROR)
    assert len(letter.to_bytes()) < 1024 * 1024 - 4096
    assert letter.data is not None
    assert base64.b64decode(letter.data["original_b64"]) == value[:VALUE_KEPT_MAX]
    assert letter.data["original_size"] == len(value)
    assert letter.data["original_sha256"] == hashlib.sha256(value).hexdigest()
    assert base64.b64decode(letter.data["key_b64"]) == key[:KEY_KEPT_MAX]
    assert row.detail["key_b64"] == letter.data["key_b64"]


def test_a_small_original_is_kept_whole_without_size_or_digest() -> None:
    letter, _ = dead_letter_of(AT, "inbound", FakeRecord(value=b"x" * 100), ERROR)
    assert letter.data is not None
    assert base64.b64decode(letter.data["original_b64"]) == b"x" * 100
    assert letter.data["original_size"] is None
    assert letter.data["original_sha256"] is None


def test_a_binary_mode_record_keeps_its_headers() -> None:
    headers = (("ce_id", b"E1"), ("ce_type", b"message.received"), ("content-type", b"\xff"))
    letter, _ = dead_letter_of(AT, "inbound", FakeRecord(value=b"{", headers=headers), ERROR)
    assert letter.data is not None
    kept = [(name, base64.b64decode(value)) for name, value in letter.data["headers"]]
    assert kept == list(headers)
