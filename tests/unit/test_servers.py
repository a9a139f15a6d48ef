"""The embedded servers really start, answer their protocol, and stop (about a second each)."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from orchestrator import servers
from orchestrator.servers import (
    EmbeddedServer,
    ServerStartError,
    free_port,
    start_kafka,
    start_postgres,
    start_redis,
)


@pytest.fixture
def pg_data_dir(tmp_path: Path) -> Iterator[Path]:
    # As root, PostgreSQL runs as `postgres`, which cannot enter pytest's 0700 basetemp.
    if os.geteuid() != 0:
        yield tmp_path / "pgdata"
        return
    path = Path(tempfile.mkdtemp(prefix="continuum-pg-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _assert_stops(server: EmbeddedServer) -> None:
    assert server.alive()
    server.stop()
    assert not server.alive()
    server.stop()  # idempotent
    assert server.process.returncode is not None


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_free_port_never_hands_out_the_same_port_twice() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)


def test_free_port_stays_out_of_the_range_outbound_connections_take_their_ports_from() -> None:
    low, high = servers._ephemeral_range()
    for _ in range(20):
        assert not low <= free_port() <= high


def test_free_port_skips_a_port_someone_is_listening_on(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        # the busy port first, then its neighbours: any of those may be in use or handed out
        # already on a busy machine, so the picks do not run out after one
        neighbours = (p for d in range(1, 65536) for p in (busy + d, busy - d) if 0 < p < 65536)
        picks = itertools.chain([busy], neighbours)
        monkeypatch.setattr(servers, "_ephemeral_range", lambda: (busy + 10_000, 65535))
        monkeypatch.setattr(servers.random, "randrange", lambda _a, _b: next(picks))
        assert free_port() != busy


def test_nothing_is_missing_on_a_provisioned_machine() -> None:
    assert servers.missing_binaries() == []


def test_missing_binaries_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert "redis-server (Debian package: redis-server)" in servers.missing_binaries()


async def test_kafka_round_trips_a_record(tmp_path: Path) -> None:
    server = start_kafka(free_port(), log_dir=tmp_path)
    try:
        assert server.url.startswith("127.0.0.1:")
        producer = AIOKafkaProducer(bootstrap_servers=server.url)
        await producer.start()
        try:
            await producer.send_and_wait("probe", b"hello")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            "probe", bootstrap_servers=server.url, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            record = await consumer.getone()
        finally:
            await consumer.stop()
        assert record.value == b"hello"
    finally:
        server.stop()
    assert not server.alive()
    server.stop()


def test_kafka_port_in_use_raises(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServerStartError, match=f"127.0.0.1:{port}"):
            start_kafka(port, log_dir=tmp_path)


def test_redis_answers_and_stops(tmp_path: Path) -> None:
    server = start_redis(free_port(), log_dir=tmp_path)
    try:
        with redis.Redis.from_url(server.url) as client:
            assert client.ping()
            assert client.config_get("appendonly") == {"appendonly": "no"}
            assert client.config_get("save") == {"save": ""}
    finally:
        _assert_stops(server)
    assert "Ready to accept connections" in server.log_tail()


def test_redis_with_data_dir_keeps_an_append_only_file(tmp_path: Path) -> None:
    server = start_redis(free_port(), data_dir=tmp_path / "data", log_dir=tmp_path)
    try:
        with redis.Redis.from_url(server.url) as client:
            client.set("k", "v")
            assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        _assert_stops(server)
    assert any((tmp_path / "data").rglob("*.aof"))


def test_redis_port_in_use_raises_with_the_log(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServerStartError) as caught:
            start_redis(port, log_dir=tmp_path)
    assert caught.value.name == "redis"
    assert "Address already in use" in str(caught.value)
    assert "Address already in use" in (tmp_path / "redis.log").read_text()


async def test_postgres_creates_the_database_and_restarts(
    tmp_path: Path, pg_data_dir: Path
) -> None:
    server = start_postgres(free_port(), data_dir=pg_data_dir, log_dir=tmp_path, durable=False)
    try:
        assert server.url.endswith("/continuum")
        conn = await asyncpg.connect(server.url)
        try:
            assert await conn.fetchval("SELECT current_database()") == "continuum"
            assert await conn.fetchval("SHOW fsync") == "off"
            await conn.execute("CREATE TABLE kept (x int)")
        finally:
            await conn.close()
    finally:
        _assert_stops(server)

    again = start_postgres(free_port(), data_dir=pg_data_dir, log_dir=tmp_path)
    try:
        conn = await asyncpg.connect(again.url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM kept") == 0
            assert await conn.fetchval("SHOW fsync") == "on"
        finally:
            await conn.close()
    finally:
        _assert_stops(again)


def test_postgres_bad_data_dir_raises_with_the_log(tmp_path: Path, pg_data_dir: Path) -> None:
    pg_data_dir.mkdir(parents=True, exist_ok=True)
    (pg_data_dir / "PG_VERSION").write_text("not a version\n")
    with pytest.raises(ServerStartError) as caught:
        start_postgres(free_port(), data_dir=pg_data_dir, log_dir=tmp_path, durable=False)
    assert caught.value.name == "postgres"
    assert caught.value.log_tail
    assert caught.value.log_tail in str(caught.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="the traversal check applies when running as root")
def test_postgres_as_root_names_the_directory_it_cannot_enter(tmp_path: Path) -> None:
    closed = Path(tempfile.mkdtemp(prefix="continuum-closed-"))  # mode 0700, owned by root
    try:
        with pytest.raises(ServerStartError, match=f"may not enter {closed} "):
            start_postgres(free_port(), data_dir=closed / "pg", log_dir=tmp_path)
    finally:
        shutil.rmtree(closed)


def test_a_server_that_never_answers_times_out_and_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[EmbeddedServer] = []
    real_spawn = servers._spawn

    def spawn(*args: Any, **kwargs: Any) -> EmbeddedServer:
        server = real_spawn(*args, **kwargs)
        started.append(server)
        return server

    monkeypatch.setattr(servers, "REDIS_START_TIMEOUT", 0.3)
    monkeypatch.setattr(servers, "_redis_pid", lambda host, port: None)
    monkeypatch.setattr(servers, "_spawn", spawn)
    with pytest.raises(ServerStartError, match=r"not ready after 0s"):
        start_redis(free_port(), log_dir=tmp_path)
    assert len(started) == 1
    assert not started[0].alive()
