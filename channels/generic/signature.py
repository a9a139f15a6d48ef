"""Standard Webhooks (symmetric ``v1``) signatures: sign, verify, and the timestamp window.

The secret is ``whsec_`` + base64 key bytes; the signed content is the UTF-8 bytes of
``{webhook-id}.{webhook-timestamp}.{raw body}``; ``webhook-signature`` is ``v1,`` + base64 of
its HMAC-SHA256, possibly several space-separated entries (a key rotation). Example::

    header = sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", 1614265330, b"{}")
    assert verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", 1614265330, b"{}", header)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from channels.webhooks import within_window

TOLERANCE_S = 300
"""How far ``webhook-timestamp`` may be from now, either way (the libraries' tolerance)."""

PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The key bytes of a ``whsec_…`` secret; raise ValueError when it is not base64."""
    encoded = secret.removeprefix(PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the webhook secret is not whsec_ followed by base64") from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value (``v1,<base64 mac>``) for one message."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, msg_id: str, timestamp: str | int, body: bytes, header: str) -> bool:
    """Whether any ``v1`` entry of ``header`` signs the message; constant-time compare.

    Only the signature: the caller checks the timestamp window (:func:`fresh`).
    """
    if not msg_id or not str(timestamp) or not header:
        return False
    try:
        expected = sign(secret, msg_id, int(timestamp), body).encode()
    except ValueError:
        return False
    found = False
    for entry in header.split(" "):
        version, _, _ = entry.partition(",")
        if version == "v1" and hmac.compare_digest(entry.encode(), expected):
            found = True
    return found


def fresh(timestamp: str, now: float, tolerance_s: int = TOLERANCE_S) -> bool:
    """Whether ``timestamp`` (Unix seconds, as sent) is within ``tolerance_s`` of ``now``."""
    return within_window(timestamp, tolerance_s, now)
