"""``continuum up`` as a process tree: a process per role, N of a role, restarts, a clean stop."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from orchestrator.errors import ConfigError
from orchestrator.service import Service, create_topics
from orchestrator.settings import Settings
from orchestrator.supervisor import Child, Supervisor
from orchestrator.topics import Topics
from tests.integration.helpers import eventually, sms_event
from tests.integration.processes import env_for, spawn

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

SPREAD = 16  # customers: spread over 4 partitions, so that both decision processes get some
PROCESS_LINE = re.compile(r"^  process    (\S+)\s+pid (\d+)(?:  metrics (\S+))?$", re.M)


def _read(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


async def _output(log: Path, proc: subprocess.Popen[bytes], text: str, timeout: float) -> str:
    async def probe() -> str:
        if proc.poll() is not None:
            raise AssertionError(f"up exited with {proc.returncode}:\n{_read(log)}")
        return _read(log)

    return await eventually(probe, lambda out: text in out, timeout=timeout)


def _alive(pid: int) -> bool:
    """Running (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


async def _batches(metrics_url: str) -> float:
    """Batches one decision process has handled, from its own /metrics."""
    async with httpx.AsyncClient() as http:
        page = (await http.get(metrics_url)).text
    found = re.search(r'^continuum_batch_seconds_count\{worker="decision"\} (\S+)$', page, re.M)
    return float(found.group(1)) if found else 0.0


async def _members(settings: Settings, group: str) -> list[object]:
    """The members of consumer group ``group``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (described,) = response.groups
    members = described[-1] if not isinstance(described[-1], int) else described[-2]
    return list(members)


async def _sandbox_messages(settings: Settings) -> list[dict[str, object]]:
    async with httpx.AsyncClient() as http:
        got = await http.get(f"http://127.0.0.1:{settings.sandbox.port}/_sandbox/messages")
    messages: list[dict[str, object]] = got.json()
    return messages


async def _send(settings: Settings, sender: str, event_id: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        topic = Topics(settings.kafka.topic_prefix).inbound("sms")
        await producer.send_and_wait(
            topic, sms_event(event_id, sender, "where is my order"), key=sender.encode()
        )
    finally:
        await producer.stop()


@pytest.mark.timeout(300)
async def test_up_runs_each_role_in_processes_of_its_own_restarts_them_and_stops_them_all(
    settings: Settings, tmp_path: Path
) -> None:
    await create_topics(settings, Topics(settings.kafka.topic_prefix))
    env = env_for(
        settings,
        CONTINUUM_API__PORT=str(settings.api.port),
        CONTINUUM_SANDBOX__PORT=str(settings.sandbox.port),
    )
    log = tmp_path / "up.log"
    up = spawn(["up", "--processes", "decision=2"], env, log)
    pids: dict[str, int] = {}
    try:
        banner = await _output(log, up, "continuum: up in", timeout=150)
        banner = await _output(log, up, "Try: continuum send", timeout=10)
        found = PROCESS_LINE.findall(banner)
        pids = {name: int(pid) for name, pid, _ in found}
        roles = ("api", "sandbox", "inbound.1", "events.1", "decision.1", "decision.2")
        workers = {"dispatcher.1", "status.1", "router.1", "ledger.1"}
        assert set(roles) | workers == set(pids), banner
        # Each in a process of its own, children of `up`, each worker with its own /metrics.
        assert len(set(pids.values())) == len(pids)
        assert all(_parent(pid) == up.pid for pid in pids.values())
        metrics = {name: url for name, _, url in found if url}
        assert set(metrics) == set(pids) - {"api", "sandbox"}
        assert len(set(metrics.values())) == len(metrics)
        async with httpx.AsyncClient() as http:
            page = await http.get(metrics["decision.2"])
        assert 'continuum_worker_consuming{worker="decision"} 1.0' in page.text

        # Both decision processes consume: the group has two members, and each handles
        # batches of the customers of its partitions.
        group = f"{settings.kafka.group_prefix}.decision"
        await eventually(
            lambda: _members(settings, group), lambda members: len(members) == 2, timeout=60
        )
        senders = [f"+155512300{i:02d}" for i in range(SPREAD)]
        for i, sender in enumerate(senders):
            await _send(settings, sender, f"SMspread{i}")
        batches = await eventually(
            lambda: asyncio.gather(*(_batches(metrics[n]) for n in ("decision.1", "decision.2"))),
            lambda counts: all(n > 0 for n in counts),
            timeout=90,
        )
        assert len(batches) == 2
        await eventually(
            lambda: _sandbox_messages(settings), lambda got: len(got) == SPREAD, timeout=60
        )

        # kill -9 of a worker: restarted, logged, and the service still replies.
        old = pids["dispatcher.1"]
        os.kill(old, signal.SIGKILL)
        restarted = await _output(
            log,
            up,
            f"dispatcher.1 (role dispatcher, pid {old}) exited with code -9; restart 1",
            timeout=30,
        )
        restarted = await _output(log, up, "dispatcher.1 restarted (pid", timeout=30)
        new = re.search(r"dispatcher\.1 restarted \(pid (\d+)\)", restarted)
        assert new, restarted
        pids["dispatcher.1 again"] = int(new.group(1))
        assert _parent(pids["dispatcher.1 again"]) == up.pid
        await _send(settings, "+15551239901", "SMproc1")
        messages = await eventually(
            lambda: _sandbox_messages(settings), lambda got: len(got) == SPREAD + 1, timeout=90
        )
        assert "+15551239901" in {m["to"] for m in messages}
    finally:
        started = time.monotonic()
        up.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(up.wait, 30)
        finally:
            for pid in pids.values():  # never leave a child behind, even when the test fails
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
    took = time.monotonic() - started
    assert code == 0, _read(log)
    assert took < 10, f"stopping took {took:.1f}s:\n{_read(log)}"
    left = [name for name, pid in pids.items() if _alive(pid)]
    assert left == [], f"still running after up exited: {left}"
    assert "continuum: stopped in" in _read(log)


async def test_a_child_that_exits_while_starting_fails_the_start_with_its_reason() -> None:
    """No restart loop at start-up: ``up`` stops with the child's name and exit code."""
    out = io.BytesIO()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    child = Child("bogus.1", "bogus", ("worker", "--only", "bogus"), env, ready_line="never")
    supervisor = Supervisor([child], out=out)
    await supervisor.start()
    try:
        with pytest.raises(ConfigError, match=r"bogus\.1 exited with code 2 while starting"):
            await supervisor.wait_ready(timeout=60)
    finally:
        await supervisor.stop(budget=5)
    assert b"unknown worker(s) bogus" in out.getvalue()
    assert child.restarts == 0


async def test_a_reload_over_http_reaches_a_dispatcher_in_a_process_of_its_own(
    settings: Settings, tmp_path: Path
) -> None:
    """Under ``up`` the dispatcher runs alone: its send-time policy follows a reload too."""
    folder = tmp_path / "flows"
    shutil.copytree(REPO / "flows", folder)
    token = "reload-token"
    api = settings.api.model_copy(update={"operator_token": SecretStr(token)})
    settings = settings.model_copy(update={"flows_dir": folder, "api": api})
    api_process = Service(settings, workers=[], api=True)
    dispatcher = Service(settings, workers=["dispatcher"], api=False)
    await asyncio.gather(api_process.start(), dispatcher.start())
    try:
        assert dispatcher.policy().quiet_hours.default_timezone == "UTC"
        policy = folder / "policy.yaml"
        policy.write_text(
            policy.read_text().replace(
                "default_timezone: UTC", "default_timezone: America/New_York", 1
            )
        )
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                f"http://127.0.0.1:{settings.api.port}/v1/flows/reload",
                headers={"Authorization": f"Bearer {token}"},
            )
        assert resp.status_code == 200, resp.text
        zone = await eventually(
            lambda: asyncio.sleep(0, dispatcher.policy().quiet_hours.default_timezone),
            lambda z: z == "America/New_York",
        )
        assert zone == "America/New_York"
    finally:
        await asyncio.gather(api_process.stop(), dispatcher.stop())
