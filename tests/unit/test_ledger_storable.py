"""Text PostgreSQL refuses is escaped, and the original is kept in base64."""

from __future__ import annotations

import base64

from orchestrator.ledger.storable import ORIGINALS, storable_row


def _original(row: dict[str, object], path: str) -> bytes:
    originals = row["detail"][ORIGINALS]  # type: ignore[index]
    return base64.b64decode(originals[path])


def test_storable_text_is_left_alone() -> None:
    doc = {"address": "+15551230001", "detail": {"text": "a\\u0000b", "n": [1, "x"]}}
    assert storable_row(doc) == doc


def test_nul_is_escaped_everywhere_and_the_original_kept() -> None:
    row = storable_row(
        {"address": "a\x00b", "reason": None, "detail": {"k\x00": {"list": ["ok", "v\x00"]}}}
    )
    assert row["address"] == "a\\u0000b"
    assert row["reason"] is None
    assert row["detail"]["k\\u0000"] == {"list": ["ok", "v\\u0000"]}
    assert _original(row, "address") == b"a\x00b"
    assert _original(row, "detail.k\\u0000#key") == b"k\x00"
    assert _original(row, "detail.k\\u0000.list.1") == b"v\x00"


def test_a_lone_surrogate_is_escaped() -> None:
    row = storable_row({"address": "x\ud800", "detail": {}})
    assert row["address"] == "x\\ud800"
    assert _original(row, "address") == "x\ud800".encode("utf-8", "surrogatepass")
