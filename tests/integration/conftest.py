"""Integration fixtures: real Kafka-protocol broker, Redis and PostgreSQL, isolated per test.

Servers start once per session (see ``servers.py``; ``CONTINUUM_TEST_*`` point at existing
ones). Each test gets its own topic prefix and consumer groups, a flushed Redis database and an
emptied ledger, so tests never see each other's records.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from orchestrator.servers import free_port
from orchestrator.settings import Settings
from tests.integration.helpers import Pipeline
from tests.integration.redis_cluster import redis_cluster_url  # noqa: F401
from tests.integration.servers import database_url, kafka_bootstrap, redis_url  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything in this folder is an integration test."""
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
async def settings(kafka_bootstrap: str, redis_url: str, database_url: str) -> Settings:  # noqa: F811
    """Settings for one test: unique topics and groups, free ports, clean Redis and ledger."""
    tag = uuid.uuid4().hex[:10]
    sandbox_port, api_port = free_port(), free_port()
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    conn = await asyncpg.connect(database_url)
    await conn.execute("DROP TABLE IF EXISTS ledger")
    await conn.close()
    return Settings(
        kafka={
            "bootstrap_servers": kafka_bootstrap,
            "topic_prefix": f"t{tag}.",
            "group_prefix": f"g{tag}",
            "partitions": 2,
            "session_timeout_ms": 6000,
        },
        redis_url=redis_url,
        database_url=database_url,
        flows_dir=REPO / "flows",
        api={"port": api_port},
        metrics={"port": 0},  # any free port: a test may run several processes without the API
        sandbox={"port": sandbox_port, "smtp_port": free_port()},
        twilio={
            "account_sid": "AC00000000000000000000000000000000",
            "auth_token": "sandbox-auth-token",
            "base_url": f"http://127.0.0.1:{sandbox_port}",
            "from_number": "+15559990000",
        },
        dispatch={"backoff_s": 0.01},
        # off: the sandbox's one number would send 1 SMS a second (a test of the limits sets
        # them: settings.model_copy(update={"rate_limits": RateLimitSettings(...)}))
        rate_limits={"enabled": False},
    )


@pytest.fixture
async def pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    """Every worker, the API and the sandbox, running and consuming."""
    async with Pipeline.running(settings) as pipe:
        yield pipe


@pytest.fixture
async def webchat_pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    """The pipeline with the webchat provider on the webchat medium."""
    enabled = settings.model_copy(
        update={"channels": {**settings.channels, "webchat": ("webchat",)}}
    )
    async with Pipeline.running(enabled) as pipe:
        yield pipe


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """A client of the test's Redis, closed after it."""
    client = Redis.from_url(settings.redis)
    try:
        yield client
    finally:
        await client.aclose()
