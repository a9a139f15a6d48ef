"""Session-scoped fixtures for the real servers the integration tier runs against.

Each fixture uses the server named by its environment variable when that is set
(`CONTINUUM_TEST_KAFKA_BOOTSTRAP`, `CONTINUUM_TEST_REDIS_URL`, `CONTINUUM_TEST_DATABASE_URL`);
otherwise it starts the embedded server (orchestrator.servers) on a free loopback port and stops
it when the session ends. They never skip: a missing binary is an error, not a skipped test.

Example (tests/integration/conftest.py):
    from tests.integration.servers import database_url, kafka_bootstrap, redis_url
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.servers import free_port, start_kafka, start_postgres, start_redis

KAFKA_ENV = "CONTINUUM_TEST_KAFKA_BOOTSTRAP"
REDIS_ENV = "CONTINUUM_TEST_REDIS_URL"
DATABASE_ENV = "CONTINUUM_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`host:port` of a Kafka-protocol broker (Tansu, in memory, unless the env var is set)."""
    if external := os.environ.get(KAFKA_ENV):
        yield external
        return
    server = start_kafka(free_port(), log_dir=tmp_path_factory.mktemp("kafka"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`redis://host:port/0` of an ephemeral Redis (unless the env var is set)."""
    if external := os.environ.get(REDIS_ENV):
        yield external
        return
    server = start_redis(free_port(), log_dir=tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`postgresql://postgres@host:port/continuum` of a throwaway PostgreSQL (unless env set)."""
    if external := os.environ.get(DATABASE_ENV):
        yield external
        return
    with postgres_data_dir(tmp_path_factory) as data_dir:
        server = start_postgres(
            free_port(),
            data_dir=data_dir,
            log_dir=tmp_path_factory.mktemp("postgres-log"),
            durable=False,
        )
        try:
            yield server.url
        finally:
            server.stop()


@contextlib.contextmanager
def postgres_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh PostgreSQL data directory that the server's OS user can reach.

    As root, PostgreSQL runs as the `postgres` user, which cannot enter pytest's basetemp
    (`/tmp/pytest-of-root` is mode 0700), so the directory is made directly under the system
    temp dir instead, and removed afterwards.
    """
    if os.geteuid() != 0:
        yield tmp_path_factory.mktemp("postgres-data")
        return
    path = Path(tempfile.mkdtemp(prefix="continuum-pg-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
