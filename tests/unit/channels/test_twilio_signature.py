"""X-Twilio-Signature against Twilio's published vectors, and single-byte tampering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.twilio.signature import compute_signature, validate_signature

REPO_ROOT = Path(__file__).resolve().parents[3]
VECTORS = REPO_ROOT.parent / "shared" / "vectors" / "twilio_signature.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
IDS = [f"case{i}" for i in range(len(CASES))]


def flip(text: str, index: int) -> str:
    """Return ``text`` with the character at ``index`` changed by one bit."""
    return text[:index] + chr(ord(text[index]) ^ 1) + text[index + 1 :]


def test_vectors_are_present() -> None:
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vector_validates(case: dict[str, Any]) -> None:
    assert validate_signature(case["auth_token"], case["url"], case["params"], case["signature"])
    assert compute_signature(case["auth_token"], case["url"], case["params"]) == case["signature"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_any_changed_url_byte_fails(case: dict[str, Any]) -> None:
    token, url, params, sig = case["auth_token"], case["url"], case["params"], case["signature"]
    for i in range(len(url)):
        assert not validate_signature(token, flip(url, i), params, sig), flip(url, i)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_any_changed_param_byte_fails(case: dict[str, Any]) -> None:
    token, url, params, sig = case["auth_token"], case["url"], case["params"], case["signature"]
    for name, value in params.items():
        for i in range(len(value)):
            tampered = {**params, name: flip(value, i)}
            assert not validate_signature(token, url, tampered, sig), (name, i)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_any_changed_signature_byte_fails(case: dict[str, Any]) -> None:
    token, url, params, sig = case["auth_token"], case["url"], case["params"], case["signature"]
    for i in range(len(sig)):
        assert not validate_signature(token, url, params, flip(sig, i)), i


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_wrong_token_or_extra_param_fails(case: dict[str, Any]) -> None:
    url, params, sig = case["url"], case["params"], case["signature"]
    assert not validate_signature(case["auth_token"] + "x", url, params, sig)
    assert not validate_signature(case["auth_token"], url, {**params, "Extra": ""}, sig)
    assert not validate_signature(case["auth_token"], url, params, "")


@pytest.mark.parametrize(
    ("signed", "presented"),
    [
        ("https://example.com/hook?a=1", "https://example.com:443/hook?a=1"),
        ("https://example.com:443/hook?a=1", "https://example.com/hook?a=1"),
        ("http://example.com/hook", "http://example.com:80/hook"),
        ("http://user:pw@[::1]:80/hook", "http://user:pw@[::1]/hook"),
    ],
)
def test_default_port_is_optional(signed: str, presented: str) -> None:
    sig = compute_signature("tok", signed, {"Body": "hi"})
    assert validate_signature("tok", presented, {"Body": "hi"}, sig)


@pytest.mark.parametrize(
    ("signed", "presented"),
    [
        ("https://example.com/hook", "https://example.com:8443/hook"),
        ("https://example.com/hook", "https://example.com:80/hook"),
        ("http://example.com/hook", "http://example.com:443/hook"),
        ("ftp://example.com/hook", "ftp://example.com:21/hook"),
        ("https://example.com/hook", "https://example.com:bad/hook"),
    ],
)
def test_other_ports_are_not_equivalent(signed: str, presented: str) -> None:
    sig = compute_signature("tok", signed, {})
    assert not validate_signature("tok", presented, {}, sig)


@pytest.mark.parametrize("url", ["https:no-authority", "mailto:ops@example.com", ""])
def test_urls_without_authority_are_signed_as_is(url: str) -> None:
    sig = compute_signature("tok", url, {"A": "1"})
    assert validate_signature("tok", url, {"A": "1"}, sig)
    assert not validate_signature("tok", url + ":443", {"A": "1"}, sig)


def test_repeated_names_sign_their_sorted_distinct_values_like_twilio_python() -> None:
    url = "https://example.com/hook"
    sig = compute_signature("tok", url, {"MediaUrl": ["b", "a", "b"], "Body": "x"})
    assert sig == compute_signature("tok", url + "BodyxMediaUrlaMediaUrlb", {})
    assert validate_signature("tok", url, {"Body": "x", "MediaUrl": ("b", "a")}, sig)
    assert not validate_signature("tok", url, {"Body": "x", "MediaUrl": ["a"]}, sig)


@given(
    token=st.text(min_size=1, max_size=20),
    params=st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=5),
)
def test_roundtrip_with_and_without_port(token: str, params: dict[str, str]) -> None:
    url = "https://hooks.example.com/twilio?x=1"
    sig = compute_signature(token, url, params)
    assert validate_signature(token, url, params, sig)
    assert validate_signature(token, "https://hooks.example.com:443/twilio?x=1", params, sig)
    assert not validate_signature(token, url + "2", params, sig)
