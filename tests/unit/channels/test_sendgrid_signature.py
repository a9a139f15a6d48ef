"""SendGrid's signed Event Webhook (ECDSA P-256 / SHA-256 over timestamp + body): the published
vectors, any single-byte change failing, and SendGrid's own library as the oracle."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from sendgrid.helpers.eventwebhook import EventWebhook

from channels.sendgrid.sandbox import SANDBOX_PRIVATE_KEY_PEM, SANDBOX_PUBLIC_KEY
from channels.sendgrid.signature import REPLAY_WINDOW_S, fresh, sign, verify

VECTORS = Path(__file__).resolve().parents[4] / "shared" / "vectors" / "sendgrid_event_webhook.json"
DOC: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = DOC["cases"]
VALID = [c for c in CASES if c["valid"]]


def flip(data: bytes, index: int) -> bytes:
    """``data`` with one bit of the byte at ``index`` changed."""
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :]


def oracle(key: str, stamp: str, payload: str, sig: str) -> bool:
    """SendGrid's official verifier (sendgrid.helpers.eventwebhook)."""
    return bool(EventWebhook(key).verify_signature(payload, sig, stamp))


def test_the_vector_file_has_valid_and_invalid_cases() -> None:
    assert len(VALID) == 4
    assert len(CASES) - len(VALID) == 2


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_each_vector_verifies_as_published_here_and_in_the_oracle(case: dict[str, Any]) -> None:
    key, stamp, payload, sig = (
        case[k] for k in ("public_key", "timestamp", "payload", "signature")
    )
    assert verify(key, stamp, payload.encode(), sig) is case["valid"]
    assert oracle(key, stamp, payload, sig) is case["valid"]


@pytest.mark.parametrize("case", VALID, ids=[c["name"] for c in VALID])
def test_any_single_byte_change_fails(case: dict[str, Any]) -> None:
    key, stamp, sig = case["public_key"], case["timestamp"], case["signature"]
    body = case["payload"].encode()
    for i in range(len(body)):
        assert not verify(key, stamp, flip(body, i), sig), f"body byte {i}"
    for i in range(len(stamp)):
        assert not verify(key, flip(stamp.encode(), i).decode(), body, sig), f"timestamp byte {i}"
    der = base64.b64decode(sig)
    for i in range(len(der)):
        bad = base64.b64encode(flip(der, i)).decode()
        assert not verify(key, stamp, body, bad), f"signature byte {i}"


def test_a_wrong_key_or_garbage_fails_without_raising() -> None:
    case = VALID[1]
    body = case["payload"].encode()
    assert not verify(SANDBOX_PUBLIC_KEY, case["timestamp"], body, case["signature"])
    assert not verify(case["public_key"], case["timestamp"], body, "not base64!")
    assert not verify(case["public_key"], case["timestamp"], body, "")


def test_the_sandbox_signs_what_we_and_the_official_library_verify() -> None:
    body = b'[{"email":"a@example.com","event":"delivered","sg_event_id":"e1"}]'
    sig = sign(SANDBOX_PRIVATE_KEY_PEM, "1764680000", body)
    assert verify(SANDBOX_PUBLIC_KEY, "1764680000", body, sig)
    assert oracle(SANDBOX_PUBLIC_KEY, "1764680000", body.decode(), sig)
    assert not verify(SANDBOX_PUBLIC_KEY, "1764680001", body, sig)


def test_the_vectors_test_key_signs_what_its_public_key_verifies() -> None:
    case = VALID[1]
    sig = sign(DOC["test_private_key_pem"], case["timestamp"], case["payload"].encode())
    assert verify(case["public_key"], case["timestamp"], case["payload"].encode(), sig)


def test_replay_window() -> None:
    assert fresh("1000", now=1000 + REPLAY_WINDOW_S)
    assert fresh("1000", now=1000 - REPLAY_WINDOW_S)
    assert not fresh("1000", now=1001 + REPLAY_WINDOW_S)
    assert not fresh("", now=1000)
    assert not fresh("12a", now=1000)
