"""Vonage's signed requests (SHA-256 HMAC ``sig``): published vectors, tampering, the oracle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vonage_http_client.auth import Auth

from channels.vonage import REPLAY_WINDOW_S, fresh, sign, verify

REPO_ROOT = Path(__file__).resolve().parents[3]
VECTORS = REPO_ROOT.parent / "shared" / "vectors" / "vonage_signature.json"
DOC: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = DOC["cases"]
REJECT: list[dict[str, Any]] = DOC["must_reject"]
IDS = [f"case{i}" for i in range(len(CASES))]


def flip(text: str, index: int) -> str:
    """Return ``text`` with the character at ``index`` changed by one bit."""
    return text[:index] + chr(ord(text[index]) ^ 1) + text[index + 1 :]


def test_vectors_are_present() -> None:
    assert len(CASES) >= 5
    assert REJECT


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vector_verifies(case: dict[str, Any]) -> None:
    secret, params, sig = case["signature_secret"], case["params"], case["sig"]
    assert sign(secret, params) == sig
    assert verify(secret, params, sig)
    assert verify(secret, params, sig.upper())  # Vonage sends upper-case hex
    assert verify(secret, {**params, "sig": sig}, sig)  # sig itself is not signed


@pytest.mark.parametrize("case", REJECT, ids=[c["why"] for c in REJECT])
def test_must_reject(case: dict[str, Any]) -> None:
    assert not verify(case["signature_secret"], case["params"], case["sig"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_any_changed_param_byte_fails(case: dict[str, Any]) -> None:
    secret, params, sig = case["signature_secret"], case["params"], case["sig"]
    for name, value in params.items():
        for i in range(len(value)):
            tampered = {**params, name: flip(value, i)}
            assert not verify(secret, tampered, sig), (name, i)
        for i in range(len(name)):
            renamed = {k: v for k, v in params.items() if k != name} | {flip(name, i): value}
            assert not verify(secret, renamed, sig), (name, i)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_any_changed_secret_byte_fails(case: dict[str, Any]) -> None:
    secret, params, sig = case["signature_secret"], case["params"], case["sig"]
    for i in range(len(secret)):
        assert not verify(flip(secret, i), params, sig), i


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_any_changed_signature_byte_fails(case: dict[str, Any]) -> None:
    secret, params, sig = case["signature_secret"], case["params"], case["sig"]
    for i in range(len(sig)):
        assert not verify(secret, params, flip(sig, i)), i
    assert not verify(secret, params, "")
    assert not verify(secret, params, sig[:-1])
    assert not verify(secret, {**params, "extra": ""}, sig)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_oracle_agrees_on_vectors(case: dict[str, Any]) -> None:
    auth = Auth(api_key="k", signature_secret=case["signature_secret"], signature_method="sha256")
    assert auth.sign_params(dict(case["params"])) == case["sig"]
    assert auth.check_signature({**case["params"], "sig": case["sig"].upper()})


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@given(
    secret=st.text(min_size=1, max_size=20),
    params=st.dictionaries(st.text(min_size=1, max_size=10), _text, max_size=6),
)
def test_ours_matches_the_oracle(secret: str, params: dict[str, str]) -> None:
    params = {**params, "timestamp": "1732307137"}  # the oracle adds one when absent
    params.pop("sig", None)
    ours = sign(secret, params)
    auth = Auth(api_key="k", signature_secret=secret, signature_method="sha256")
    assert auth.sign_params(dict(params)) == ours
    assert auth.check_signature({**params, "sig": ours.upper()})
    assert verify(secret, params, ours)


def test_timestamp_window_refuses_replays() -> None:
    now = 1_732_307_137.0
    assert fresh({"timestamp": "1732307137"}, now)
    assert fresh({"timestamp": str(int(now) - REPLAY_WINDOW_S)}, now)
    assert not fresh({"timestamp": str(int(now) - REPLAY_WINDOW_S - 1)}, now)
    assert not fresh({"timestamp": str(int(now) + REPLAY_WINDOW_S + 1)}, now)
    assert not fresh({}, now)
    assert not fresh({"timestamp": "soon"}, now)
