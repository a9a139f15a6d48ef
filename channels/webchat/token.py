"""Web chat session tokens: ``base64url(session_id:expires_at) "." base64url(HMAC-SHA256)``.

The token names a session and when it expires (Unix seconds), signed with
``CONTINUUM_WEBCHAT__SECRET``; :func:`verify` checks the MAC in constant time before it reads
anything, so a forged token is refused (:class:`TokenForged`) apart from an expired one
(:class:`TokenExpired`). Example::

    token = sign("s3cret", "wc_abc", 1_800_000_000)
    assert verify("s3cret", token, now=1_700_000_000) == ("wc_abc", 1_800_000_000)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac


class TokenInvalid(ValueError):
    """A token that does not open a session."""


class TokenForged(TokenInvalid):
    """Malformed, or its MAC does not match: answered 403 (socket close 4403)."""


class TokenExpired(TokenInvalid):
    """Signed by us but past its expiry: answered 401 (socket close 4401)."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> bytes:
    return hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha256).digest()


def sign(secret: str, session_id: str, expires_at: int) -> str:
    """The token for ``session_id`` valid until ``expires_at`` (Unix seconds)."""
    payload = _b64(f"{session_id}:{expires_at}".encode())
    return f"{payload}.{_b64(_mac(secret, payload))}"


def verify(secret: str, token: str, now: float) -> tuple[str, int]:
    """The session id and expiry ``token`` carries; raises :class:`TokenInvalid` subclasses."""
    payload, dot, mac = token.partition(".")
    if not dot or not payload or not payload.isascii() or not mac.isascii():
        raise TokenForged("the token is not <payload>.<signature>")
    # compare the canonical encodings: a base64 variant of the right MAC (its unused low bits
    # changed) is a different token, and refused
    if not hmac.compare_digest(mac.encode(), _b64(_mac(secret, payload)).encode()):
        raise TokenForged("the token's signature does not match")
    try:
        session_id, _, expiry = _unb64(payload).decode().rpartition(":")
        expires_at = int(expiry)
    except (binascii.Error, ValueError):
        raise TokenForged("the token's payload is not session:expiry") from None
    if not session_id:
        raise TokenForged("the token names no session")
    if now >= expires_at:
        raise TokenExpired("the token has expired")
    return session_id, expires_at


def valid(secret: str, token: str, now: float) -> bool:
    """Whether ``token`` is ours and unexpired (the registry's ``verify``)."""
    try:
        verify(secret, token, now)
    except TokenInvalid:
        return False
    return True
