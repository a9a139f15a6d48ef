"""Vonage's signed requests, SHA-256 HMAC: ``sig`` over the sorted parameters, and the replay
window on their ``timestamp``. Pure functions, shared by the webhooks and the sandbox fake."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from channels.webhooks import within_window

REPLAY_WINDOW_S = 300
"""A signed request whose ``timestamp`` is further than this from now is refused (replay)."""


def signed_string(params: Mapping[str, str]) -> str:
    """``&name=value`` for each parameter but ``sig``, sorted; ``&``, ``=`` in values as ``_``."""
    return "".join(
        f"&{k}={str(v).replace('&', '_').replace('=', '_')}"
        for k, v in sorted(params.items())
        if k != "sig"
    )


def sign(secret: str, params: Mapping[str, str]) -> str:
    """Vonage's ``sig``: hex HMAC-SHA256 of :func:`signed_string` with the signature secret."""
    return hmac.new(secret.encode(), signed_string(params).encode(), hashlib.sha256).hexdigest()


def verify(secret: str, params: Mapping[str, str], sig: str) -> bool:
    """Whether ``sig`` signs ``params`` (case-insensitive hex, compared in constant time)."""
    return hmac.compare_digest(sign(secret, params).encode(), sig.lower().encode())


def fresh(params: Mapping[str, str], now: float | None = None) -> bool:
    """Whether the signed ``timestamp`` is within ``REPLAY_WINDOW_S`` of ``now``."""
    stamp = params.get("timestamp", "")
    return within_window(stamp, REPLAY_WINDOW_S, time.time() if now is None else now)
