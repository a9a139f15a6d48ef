"""Start the embedded servers (Tansu, Redis, PostgreSQL) as child processes.

One module per server (:mod:`.kafka`, :mod:`.redis`, :mod:`.postgres`, :mod:`.objectstore`);
the process, readiness and port helpers they share are in :mod:`._process` and :mod:`._ports`.
Every name is imported from here (``from orchestrator.servers import start_redis``).

`continuum up` and the integration fixtures use these when no external server is configured.
The API is synchronous on purpose: it is called before any event loop exists (the CLI) or from
session-scoped pytest fixtures, and the readiness probes speak each wire protocol over a plain
socket (or `psql`), so nothing here needs asyncio.

Example:
    >>> redis = start_redis(free_port(), log_dir=Path(".continuum/logs"))
    >>> redis.url
    'redis://127.0.0.1:54321/0'
    >>> redis.stop()
"""

from __future__ import annotations

import random as random  # tests replace ``servers.random.randrange``

from orchestrator.servers._binaries import missing_binaries
from orchestrator.servers._ports import _ephemeral_range as _ephemeral_range
from orchestrator.servers._ports import free_port
from orchestrator.servers._process import EmbeddedServer, ServerStartError
from orchestrator.servers._process import _spawn as _spawn
from orchestrator.servers.kafka import KAFKA_START_TIMEOUT, start_kafka, tansu_binary
from orchestrator.servers.objectstore import OBJECTSTORE_START_TIMEOUT, start_objectstore
from orchestrator.servers.postgres import (
    DATABASE_NAME,
    INITDB_TIMEOUT,
    POSTGRES_OS_USER,
    POSTGRES_START_TIMEOUT,
    postgres_bindir,
    start_postgres,
)
from orchestrator.servers.redis import REDIS_START_TIMEOUT, start_redis
from orchestrator.servers.redis import _redis_pid as _redis_pid

__all__ = [
    "DATABASE_NAME",
    "INITDB_TIMEOUT",
    "KAFKA_START_TIMEOUT",
    "OBJECTSTORE_START_TIMEOUT",
    "POSTGRES_OS_USER",
    "POSTGRES_START_TIMEOUT",
    "REDIS_START_TIMEOUT",
    "EmbeddedServer",
    "ServerStartError",
    "free_port",
    "missing_binaries",
    "postgres_bindir",
    "start_kafka",
    "start_objectstore",
    "start_postgres",
    "start_redis",
    "tansu_binary",
]
