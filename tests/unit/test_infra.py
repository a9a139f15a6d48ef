"""The clients' errors become one Continuum type at the boundary (orchestrator.infra)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from orchestrator.errors import BadRecord, ContinuumError, InfraUnavailable
from orchestrator.infra import translated, unavailable


@pytest.mark.parametrize(
    ("error", "service"),
    [
        pytest.param(RedisConnectionError("refused"), "redis", id="redis-connection"),
        pytest.param(ResponseError("WRONGTYPE"), "redis", id="redis-response"),
        pytest.param(KafkaConnectionError("no broker"), "kafka", id="kafka"),
        pytest.param(asyncpg.ConnectionDoesNotExistError("closed"), "postgres", id="postgres"),
        pytest.param(asyncpg.InterfaceError("connection is closed"), "postgres", id="pg-iface"),
        pytest.param(ConnectionRefusedError(111, "refused"), "ledger", id="os-error"),
        pytest.param(TimeoutError(), "ledger", id="timeout"),
    ],
)
def test_an_outage_becomes_infra_unavailable_with_its_cause(
    error: BaseException, service: str
) -> None:
    with pytest.raises(InfraUnavailable) as caught, unavailable("ledger"):
        raise error
    assert caught.value.service == service
    assert caught.value.__cause__ is error
    assert caught.value.retryable
    assert isinstance(caught.value, ContinuumError)
    assert isinstance(caught.value, ConnectionError)  # old `except OSError` handlers see it


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(asyncpg.UniqueViolationError("duplicate"), id="postgres-refuses-data"),
        pytest.param(KeyError("customer_id"), id="bug"),
        pytest.param(BadRecord("invalid_data", "x"), id="bad-record"),
    ],
)
def test_anything_else_passes_through(error: Exception) -> None:
    with pytest.raises(type(error)) as caught, unavailable("postgres"):
        raise error
    assert caught.value is error


@translated("redis")
class _Store:
    async def load(self) -> int:
        raise RedisConnectionError("refused")

    async def scan(self) -> AsyncIterator[int]:
        yield 1
        raise OSError("reset")

    async def fine(self) -> int:
        return 7


async def test_a_translated_store_raises_one_type_from_methods_and_generators() -> None:
    store = _Store()
    assert await store.fine() == 7
    with pytest.raises(InfraUnavailable, match="redis unavailable"):
        await store.load()
    seen: list[int] = []

    async def drain() -> None:
        async for item in store.scan():
            seen.append(item)

    with pytest.raises(InfraUnavailable, match="redis unavailable: OSError: reset"):
        await drain()
    assert seen == [1]
