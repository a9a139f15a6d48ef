"""SIGTERM under load: the process exits within 10 s, and a restart loses and repeats nothing.

Load: a dispatcher facing a slow provider (a batch of sends that takes it half a minute; one
call takes 2 s, less than the grace period a batch in flight gets), inbound messages for the
inbound and decision workers, and the ledger sink busy with their audit records. Issue 7, A4:
the process used to finish its whole batch first, however long that took.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from orchestrator.engine.model import CustomerState
from orchestrator.policy import consent
from orchestrator.service import create_topics
from orchestrator.settings import Settings
from orchestrator.state.store import RedisStateStore
from orchestrator.topics import Topics
from tests.integration.hardening_faults import FakeTwilio
from tests.integration.helpers import eventually, sms_event
from tests.integration.processes import env_for, spawn
from tests.integration.test_policy_send_time import daytime_zone, send_record

SENDS = 400
INBOUND = 100


def _phone(i: int) -> str:
    return f"+1555300{i:04d}"


async def _add_customers(settings: Settings) -> None:
    """Customers who may get a message now: marketing consent, a zone where it is daytime."""
    now = datetime.now(UTC)
    granted = {"sms": {"marketing": consent.record("granted", "test", now - timedelta(days=1))}}
    states = [
        CustomerState(
            f"cus_term{i}",
            identities={"sms": _phone(i)},
            timezone=daytime_zone(now),
            consent=granted,
        )
        for i in range(SENDS)
    ]
    redis = Redis.from_url(settings.redis)
    try:
        await RedisStateStore(redis).save_states(states)
    finally:
        await redis.aclose()


def _read(log: Path) -> str:
    return log.read_text() if log.exists() else ""


async def _wait_for_line(log: Path, text: str, proc: subprocess.Popen[bytes]) -> None:
    async def probe() -> str:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}: {_read(log)}")
        return _read(log)

    await eventually(probe, lambda out: text in out, timeout=90)


async def _exit_after_sigterm(proc: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = await eventually(
        lambda: asyncio.sleep(0, proc.poll()), lambda c: c is not None, timeout=30
    )
    assert code == 0
    return time.monotonic() - started


async def _ledger_counts(settings: Settings, step: str, column: str) -> Counter[str]:
    conn = await asyncpg.connect(settings.database)
    try:
        rows = await conn.fetch(
            f"SELECT {column} AS v FROM ledger WHERE step = $1",
            step,
        )
    except asyncpg.UndefinedTableError:
        return Counter()
    finally:
        await conn.close()
    return Counter(str(r["v"]) for r in rows)


@pytest.mark.timeout(300)
async def test_sigterm_under_load_stops_within_10s_and_a_restart_loses_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    await _add_customers(settings)
    topics = Topics(settings.kafka.topic_prefix)
    provider = FakeTwilio(delay_s=2.0)
    async with provider.serving() as provider_url:
        env = env_for(
            settings,
            CONTINUUM_TWILIO__BASE_URL=provider_url,
            CONTINUUM_DATA_DIR=str(tmp_path / "data"),
            CONTINUUM_API__PORT=str(settings.api.port),
            CONTINUUM_SANDBOX__PORT=str(settings.sandbox.port),
        )
        # Everything is queued before the service starts, so its first batches are full.
        await create_topics(settings, topics)
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(SENDS):
                value = send_record(f"msg_term_{i}", f"cus_term{i}", "Hi", purpose="service")
                value = value.replace(b"+15551234001", _phone(i).encode())
                await producer.send(topics.outbound("sms"), value, key=f"cus_term{i}".encode())
            for i in range(INBOUND):
                sender = f"+1555400{i:04d}"
                value = sms_event(f"SMterm{i}", sender, "hello there")
                await producer.send(topics.inbound("sms"), value, key=sender.encode())
            await producer.flush()
        finally:
            await producer.stop()
        first = spawn(["up"], env, tmp_path / "first.log")
        second: subprocess.Popen[bytes] | None = None
        try:
            await _wait_for_line(tmp_path / "first.log", "continuum: up in", first)
            # The dispatcher is busy with the slow provider: stop it now.
            await eventually(
                lambda: asyncio.sleep(0, len(provider.started)), lambda n: n >= 40, timeout=60
            )
            took = await _exit_after_sigterm(first)
            assert took < 10, _read(tmp_path / "first.log")
            assert len(provider.sent) < SENDS  # it really was stopped half way

            second = spawn(["up"], env, tmp_path / "second.log")
            await eventually(
                lambda: _ledger_counts(settings, "provider_accepted", "message_id"),
                lambda c: len(c) == SENDS,
                timeout=120,
            )
            await eventually(
                lambda: _ledger_counts(settings, "inbound_received", "event_id"),
                lambda c: len(c) == INBOUND,
                timeout=60,
            )
            assert await _exit_after_sigterm(second) < 10
            second = None
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.kill()

    # Every send went to the provider exactly once, and the ledger has its real outcome.
    assert Counter(f["To"] for f in provider.started) == Counter(_phone(i) for i in range(SENDS))
    accepted = await _ledger_counts(settings, "provider_accepted", "message_id")
    assert set(accepted.values()) == {1}
    assert await _ledger_counts(settings, "provider_unknown", "message_id") == Counter()
    received = await _ledger_counts(settings, "inbound_received", "event_id")
    assert received == Counter(f"SMterm{i}" for i in range(INBOUND))
