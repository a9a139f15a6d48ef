"""HTTP helpers every adapter shares: one status → SendError mapping and one JSON body parser.

Adapters call ``raise_for_send_status(resp, reject=...)`` and then ``parse_json(resp)`` so that 5xx,
429 and unexplained 4xx answers mean the same thing for every provider (CO ``handlers/errors.go``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from channels.errors import (
    ConnectionFailed,
    OutcomeUnknown,
    ResponseStatus,
    ResponseUnparseable,
    SendError,
    Throttled,
)

Rejection = Callable[[httpx.Response], SendError | None]
"""Turns a provider's 4xx error body into its specific SendError, or None when it has no reason."""


# Failures that happen before the request could have reached the provider: safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


KEEPALIVE_EXPIRY_S = 30.0
"""Idle provider connections kept this long (httpx's default of 5 s reconnects between bursts)."""


def pool_limits(concurrency: int) -> httpx.Limits:
    """Connection pool limits for ``concurrency`` calls in flight: one kept-alive connection
    each, so no call waits for a connection and none is opened per call."""
    return httpx.Limits(
        max_connections=concurrency,
        max_keepalive_connections=concurrency,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )


def transport_error(exc: httpx.TransportError) -> SendError:
    """The SendError for a transport failure: retryable only when nothing can have been sent."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, _NOT_SENT):
        return ConnectionFailed(detail)
    return OutcomeUnknown(detail)


def raise_for_send_status(resp: httpx.Response, reject: Rejection | None = None) -> None:
    """Raise the SendError matching a non-2xx answer; return quietly on 2xx.

    5xx is retryable (the provider is down, not saying no); 429 carries ``Retry-After`` so the
    dispatcher can back off as asked; any other 4xx goes through ``reject`` for the provider's own
    reason and falls back to ``ResponseStatus``.
    """
    status = resp.status_code
    if 200 <= status < 300:
        return
    if status >= 500:
        raise ConnectionFailed(f"provider answered HTTP {status}", status_code=status)
    if status == 429:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        raise Throttled(f"provider answered HTTP {status}", retry_after=retry_after)
    if reject is not None and 400 <= status < 500 and (error := reject(resp)) is not None:
        raise error
    raise ResponseStatus(f"provider answered HTTP {status}", status_code=status)


def parse_json(resp: httpx.Response) -> dict[str, Any]:
    """Return the response's JSON object, or raise ResponseUnparseable for anything else."""
    try:
        body = orjson.loads(resp.content)  # httpx's resp.json(), at a fraction of the cost
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResponseUnparseable(
            "response body is not JSON", status_code=resp.status_code
        ) from exc
    if not isinstance(body, dict):
        raise ResponseUnparseable(
            "response body is not a JSON object", status_code=resp.status_code
        )
    return body


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Return a ``Retry-After`` header (delta-seconds or HTTP-date) as seconds from ``now``."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
