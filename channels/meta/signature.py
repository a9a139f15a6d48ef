"""Meta's webhook signature: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw
body)>``. Pure functions, shared by the webhooks and the sandbox fake."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature-256"
"""The header Meta signs each webhook POST in."""

PREFIX = "sha256="


def sign(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value of ``body``: ``sha256=`` and lower-case hex."""
    return PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` signs the raw ``body`` bytes (constant time; a missing header, another
    prefix or an empty secret never verifies)."""
    if not app_secret or not header or not header.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(app_secret, body).encode(), header.strip().lower().encode())
