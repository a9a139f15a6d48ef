"""Web chat session tokens: signed, verified in constant time, expiring, unforgeable."""

from __future__ import annotations

import pytest

from channels.webchat.token import TokenExpired, TokenForged, sign, valid, verify

SECRET = "webchat-token-secret-7f3a"
EXPIRES = 1_800_000_000
NOW = 1_700_000_000.0


def test_a_signed_token_names_its_session_and_expiry() -> None:
    token = sign(SECRET, "wc_abc123", EXPIRES)
    assert verify(SECRET, token, NOW) == ("wc_abc123", EXPIRES)
    assert valid(SECRET, token, NOW)


def test_the_token_is_url_safe() -> None:
    token = sign(SECRET, "wc_-_x", EXPIRES)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_an_expired_token_is_refused_as_expired() -> None:
    token = sign(SECRET, "wc_abc123", EXPIRES)
    with pytest.raises(TokenExpired):
        verify(SECRET, token, EXPIRES)
    assert not valid(SECRET, token, EXPIRES + 1)


def test_another_secret_does_not_verify() -> None:
    token = sign("another-secret", "wc_abc123", EXPIRES)
    with pytest.raises(TokenForged):
        verify(SECRET, token, NOW)


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.", ".abc", "ä.b", "a.b.c"])
def test_a_malformed_token_is_forged(token: str) -> None:
    with pytest.raises(TokenForged):
        verify(SECRET, token, NOW)


def test_any_single_byte_change_fails() -> None:
    token = sign(SECRET, "wc_abc123", EXPIRES)
    for i in range(len(token)):
        for replacement in {"A", "b", "-", "."} - {token[i]}:
            changed = token[:i] + replacement + token[i + 1 :]
            assert not valid(SECRET, changed, NOW), (i, replacement)


def test_a_longer_expiry_cannot_be_grafted_on() -> None:
    token = sign(SECRET, "wc_abc123", int(NOW) + 1)
    forged_payload = sign(SECRET, "wc_abc123", EXPIRES).split(".")[0]
    with pytest.raises(TokenForged):
        verify(SECRET, f"{forged_payload}.{token.split('.')[1]}", NOW)
