"""Standard Webhooks signatures against the published vectors, tampering, and the official
``standardwebhooks`` library as the oracle."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from channels.generic.signature import fresh, secret_key, sign, verify

REPO_ROOT = Path(__file__).resolve().parents[3]
VECTORS: dict[str, Any] = json.loads(
    (REPO_ROOT.parent / "shared" / "vectors" / "standard_webhooks.json").read_text("utf-8")
)
CASES: list[dict[str, Any]] = VECTORS["cases"]
REJECT: list[dict[str, Any]] = VECTORS["must_reject"]


def flip(text: str, index: int) -> str:
    """Return ``text`` with the character at ``index`` changed by one bit."""
    return text[:index] + chr(ord(text[index]) ^ 1) + text[index + 1 :]


def _args(case: dict[str, Any]) -> tuple[str, str, int, bytes]:
    return case["secret"], case["webhook_id"], case["webhook_timestamp"], case["body"].encode()


def test_vectors_are_present() -> None:
    assert len(CASES) >= 4
    assert len(REJECT) >= 3


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_sign_matches_the_published_vector(case: dict[str, Any]) -> None:
    assert sign(*_args(case)) == case["signature"]
    assert verify(*_args(case), case["signature"])


@pytest.mark.parametrize("case", REJECT, ids=[c["why"] for c in REJECT])
def test_must_reject_cases_are_refused(case: dict[str, Any]) -> None:
    assert not verify(*_args(case), case["signature"])


def test_a_header_with_several_signatures_passes_when_one_matches() -> None:
    m = VECTORS["multi_signature_example"]
    args = (m["secret"], m["webhook_id"], m["webhook_timestamp"], m["body"].encode())
    assert verify(*args, m["signature_header"]) is m["valid"]


def _tamper_cases() -> list[Any]:
    params = []
    for n, case in enumerate(CASES):
        for part in ("body", "secret", "signature", "webhook_id"):
            text: str = case[part]
            start = len("whsec_") if part == "secret" else len("v1,") if part == "signature" else 0
            for i in range(start, len(text)):
                params.append(pytest.param(case, part, i, id=f"case{n}-{part}-{i}"))
    return params


@pytest.mark.parametrize(("case", "part", "index"), _tamper_cases())
def test_any_single_byte_change_fails(case: dict[str, Any], part: str, index: int) -> None:
    changed = dict(case, **{part: flip(case[part], index)})
    assert not verify(*_args(changed), changed["signature"])


def test_missing_parts_are_refused() -> None:
    secret, msg_id, stamp, body = _args(CASES[0])
    good = CASES[0]["signature"]
    assert not verify(secret, "", stamp, body, good)
    assert not verify(secret, msg_id, "", body, good)
    assert not verify(secret, msg_id, stamp, body, "")
    assert not verify(secret, msg_id, "not-a-number", body, good)
    assert not verify(secret, msg_id, stamp, body, "v2," + good[3:])


def test_a_secret_that_is_not_base64_verifies_nothing() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        secret_key("whsec_not base64!")
    assert not verify("whsec_not base64!", "m", 1, b"{}", "v1,AAAA")


def test_the_timestamp_window_is_five_minutes_either_way() -> None:
    assert fresh("1000", 1300)
    assert fresh("1600", 1300)
    assert not fresh("999", 1300)
    assert not fresh("1601", 1300)
    assert not fresh("soon", 1300)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_ours_agrees_with_the_official_library(case: dict[str, Any]) -> None:
    secret, msg_id, stamp, body = _args(case)
    oracle = Webhook(secret)
    when = datetime.fromtimestamp(stamp, UTC)
    assert oracle.sign(msg_id, when, body.decode()) == sign(secret, msg_id, stamp, body)


def test_the_official_library_verifies_what_we_sign_now() -> None:
    secret, msg_id, _, body = _args(CASES[1])
    now = int(datetime.now(UTC).timestamp())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(now),
        "webhook-signature": sign(secret, msg_id, now, body),
    }
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    headers["webhook-signature"] = sign(secret, msg_id, now, body + b" ")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_we_verify_what_the_official_library_signs() -> None:
    secret, msg_id, stamp, body = _args(CASES[2])
    header = Webhook(secret).sign(msg_id, datetime.fromtimestamp(stamp, UTC), body.decode())
    assert verify(secret, msg_id, stamp, body, header)
