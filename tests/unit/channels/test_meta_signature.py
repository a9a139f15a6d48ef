"""Meta's ``X-Hub-Signature-256``: the published vectors, tampering, and pywa as the oracle.

Meta publishes no library of its own for the check; pywa (a maintained Cloud API library)
implements it in ``pywa.utils.webhook_updates_validator`` and is the oracle here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pywa.utils import webhook_updates_validator

from channels.meta import HEADER, sign, verify

REPO_ROOT = Path(__file__).resolve().parents[3]
VECTORS = REPO_ROOT.parent / "shared" / "vectors" / "meta_whatsapp_signature.json"
DOC: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = DOC["cases"]
REJECT: list[dict[str, Any]] = DOC["must_reject"]
IDS = [f"case{i}" for i in range(len(CASES))]


def flip(data: bytes, index: int) -> bytes:
    """``data`` with the byte at ``index`` changed by one bit."""
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :]


def test_vectors_are_present() -> None:
    assert DOC["header"] == HEADER
    assert len(CASES) == 5
    assert len(REJECT) == 3


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vector_verifies(case: dict[str, Any]) -> None:
    secret, body, sig = case["app_secret"], case["body"].encode(), case["signature"]
    assert sign(secret, body) == sig
    assert verify(secret, body, sig)
    assert webhook_updates_validator(secret, body, sig)  # the oracle agrees


@pytest.mark.parametrize("case", REJECT, ids=[c["why"] for c in REJECT])
def test_must_reject(case: dict[str, Any]) -> None:
    secret, body, sig = case["app_secret"], case["body"].encode(), case["signature"]
    assert not verify(secret, body, sig)
    assert not webhook_updates_validator(secret, body, sig)


def test_raw_bytes_are_signed_not_reserialised_json() -> None:
    escaped, raw = CASES[3], CASES[4]
    assert json.loads(escaped["body"]) == json.loads(raw["body"])
    assert not verify(raw["app_secret"], raw["body"].encode(), escaped["signature"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_any_changed_body_byte_fails(case: dict[str, Any]) -> None:
    secret, body, sig = case["app_secret"], case["body"].encode(), case["signature"]
    for i in range(len(body)):
        assert not verify(secret, flip(body, i), sig), i


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_any_changed_secret_byte_fails(case: dict[str, Any]) -> None:
    secret, body, sig = case["app_secret"], case["body"].encode(), case["signature"]
    for i in range(len(secret)):
        changed = flip(secret.encode(), i).decode("latin-1")
        assert not verify(changed, body, sig), i


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_any_changed_signature_byte_fails(case: dict[str, Any]) -> None:
    secret, body, sig = case["app_secret"], case["body"].encode(), case["signature"]
    for i in range(len(sig)):
        changed = flip(sig.encode(), i).decode()
        if changed.lower() == sig:  # an upper-case hex digit is the same signature
            continue
        assert not verify(secret, body, changed), i


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    ],
    ids=["missing", "empty", "prefix-only", "other-prefix", "no-prefix"],
)
def test_a_missing_or_differently_prefixed_header_fails(header: str | None) -> None:
    assert not verify("It's a Secret to Everybody", b"Hello, World!", header)


def test_an_empty_secret_never_verifies() -> None:
    assert not verify("", b"{}", sign("", b"{}"))


@given(secret=st.text(min_size=1, max_size=40), body=st.binary(max_size=200))
def test_agrees_with_the_oracle(secret: str, body: bytes) -> None:
    sig = sign(secret, body)
    assert verify(secret, body, sig)
    assert webhook_updates_validator(secret, body, sig)
    assert not verify(secret, body + b" ", sig)
    assert not webhook_updates_validator(secret, body + b" ", sig)
