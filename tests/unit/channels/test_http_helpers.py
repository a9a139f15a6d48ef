"""channels._http: the shared status mapping, JSON parsing and Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from channels._http import parse_json, parse_retry_after, raise_for_send_status
from channels.errors import (
    ConnectionFailed,
    RejectedWithReason,
    ResponseStatus,
    ResponseUnparseable,
    SendError,
    Throttled,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("status", [200, 201, 202, 299])
def test_success_passes(status: int) -> None:
    raise_for_send_status(httpx.Response(status))


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, ConnectionFailed), (503, ConnectionFailed), (429, Throttled), (404, ResponseStatus),
     (302, ResponseStatus), (101, ResponseStatus)],
)  # fmt: skip
def test_status_mapping(status: int, error: type[SendError]) -> None:
    with pytest.raises(error) as info:
        raise_for_send_status(httpx.Response(status))
    assert info.value.status_code == status


def test_reject_callback_only_for_4xx() -> None:
    def reject(resp: httpx.Response) -> SendError | None:
        return RejectedWithReason("X1", "nope", status_code=resp.status_code)

    with pytest.raises(RejectedWithReason):
        raise_for_send_status(httpx.Response(400), reject=reject)
    with pytest.raises(Throttled):
        raise_for_send_status(httpx.Response(429), reject=reject)
    with pytest.raises(ResponseStatus):
        raise_for_send_status(httpx.Response(400), reject=lambda _resp: None)


def test_throttled_carries_retry_after() -> None:
    with pytest.raises(Throttled) as info:
        raise_for_send_status(httpx.Response(429, headers={"Retry-After": "12"}))
    assert info.value.retry_after == 12.0
    assert info.value.retryable


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("30", 30.0),
        ("Fri, 02 Jan 2026 03:04:35 GMT", 30.0),
        ("Fri, 02 Jan 2026 03:04:35", 30.0),
        ("Fri, 02 Jan 2026 03:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_parse_retry_after_defaults_to_wall_clock() -> None:
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0


@pytest.mark.parametrize(
    "resp",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, content=b"\xff\xfe\x00garbage"),
        httpx.Response(200, json=["a", "list"]),
    ],
)
def test_parse_json_rejects_garbage(resp: httpx.Response) -> None:
    with pytest.raises(ResponseUnparseable):
        parse_json(resp)


def test_parse_json_object() -> None:
    assert parse_json(httpx.Response(200, json={"sid": "SM1"})) == {"sid": "SM1"}
