"""The clients' errors translated once, at the boundary, into :class:`InfraUnavailable`.

Redis (redis-py), the broker (aiokafka) and PostgreSQL (asyncpg) each raise their own family,
and an unreachable server also shows as ``OSError`` or ``TimeoutError``. The stores
(:mod:`orchestrator.state`, :mod:`orchestrator.ledger.store`) and the publisher
(:mod:`orchestrator.workers.publisher`) run their calls under :func:`unavailable`, so callers
catch one Continuum type (HX ``map_httpcore_exceptions``). The most specific entry of
:data:`OUTAGES` names the service; the client's error is chained as the cause.

Only PostgreSQL's *connection* errors are outages: any other ``PostgresError`` is the database
refusing the data, which retrying cannot fix (the ledger sink dead-letters it).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from orchestrator.errors import InfraUnavailable

OUTAGES: dict[type[BaseException], str | None] = {
    RedisError: "redis",
    KafkaError: "kafka",
    asyncpg.PostgresConnectionError: "postgres",
    asyncpg.InterfaceError: "postgres",
    OSError: None,  # the service the caller named
    TimeoutError: None,
}
"""Each error class that means "the server is not there", and the service it names."""

_CAUGHT = tuple(OUTAGES)
C = TypeVar("C", bound=type)


def _service(exc: BaseException, default: str) -> str:
    found: type[BaseException] | None = None
    for cls in OUTAGES:
        if isinstance(exc, cls) and (found is None or issubclass(cls, found)):
            found = cls
    return (OUTAGES[found] if found is not None else None) or default


@contextmanager
def unavailable(service: str = "network") -> Iterator[None]:
    """Raise :class:`InfraUnavailable` (naming ``service`` unless the error names its own) for
    any outage raised inside; anything else passes through as it is."""
    try:
        yield
    except InfraUnavailable:
        raise
    except _CAUGHT as exc:
        raise InfraUnavailable(_service(exc, service), f"{type(exc).__name__}: {exc}") from exc


def translated(service: str) -> Callable[[C], C]:
    """A class decorator: every public coroutine method and async generator defined in the
    class runs under :func:`unavailable` (``service``). Sync methods are left alone (a
    ``pipeline()`` hands the caller a client object: run its ``execute`` under
    :func:`unavailable` yourself)."""

    def decorate(cls: C) -> C:
        for name, member in list(vars(cls).items()):
            if name.startswith("_"):
                continue
            if inspect.iscoroutinefunction(member):
                setattr(cls, name, _coroutine(member, service))
            elif inspect.isasyncgenfunction(member):
                setattr(cls, name, _generator(member, service))
        return cls

    return decorate


def _coroutine(fn: Callable[..., Any], service: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        with unavailable(service):
            return await fn(*args, **kwargs)

    return call


def _generator(fn: Callable[..., AsyncIterator[Any]], service: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        with unavailable(service):
            async for item in fn(*args, **kwargs):
                yield item

    return call
