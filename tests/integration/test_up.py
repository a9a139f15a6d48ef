"""``continuum up`` as a user runs it: embedded servers, a message through, a clean stop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.servers import free_port

REPO = Path(__file__).resolve().parents[2]


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, f"continuum exited early:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} within {timeout}s:\n{log.read_text()}"
        time.sleep(0.1)


def _get_json(url: str, timeout: float = 15.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        found = httpx.get(url).json()
        if found or time.monotonic() > deadline:
            return list(found)
        time.sleep(0.1)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder PostgreSQL's own user can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="continuum-up-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(180)
def test_up_with_embedded_servers_replies_and_stops_cleanly(tmp_path: Path, data_dir: Path) -> None:
    ports = {name: free_port() for name in ("kafka", "redis", "postgres", "api", "sandbox")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    env.update(
        {
            "CONTINUUM_DATA_DIR": str(data_dir),
            "CONTINUUM_EMBEDDED__KAFKA_PORT": str(ports["kafka"]),
            "CONTINUUM_EMBEDDED__REDIS_PORT": str(ports["redis"]),
            "CONTINUUM_EMBEDDED__POSTGRES_PORT": str(ports["postgres"]),
            "CONTINUUM_API__PORT": str(ports["api"]),
            "CONTINUUM_SANDBOX__PORT": str(ports["sandbox"]),
            "CONTINUUM_TWILIO__BASE_URL": f"http://127.0.0.1:{ports['sandbox']}",
        }
    )
    log = tmp_path / "up.log"
    cli = [sys.executable, "-m", "orchestrator"]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*cli, "up"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_for(log, "continuum: up in", proc, timeout=120)
        ready = httpx.get(f"http://127.0.0.1:{ports['api']}/readyz")
        assert ready.status_code == 200, ready.text

        sent = subprocess.run(
            [*cli, "send", "sms", "--from", "+15551230001", "where is my order"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert sent.returncode == 0, sent.stderr
        messages = _get_json(f"http://127.0.0.1:{ports['sandbox']}/_sandbox/messages")
        assert [m["to"] for m in messages] == ["+15551230001"]

        query = subprocess.run(
            [*cli, "ledger", "query", "--address", "+15551230001", "--format", "jsonl"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert query.returncode == 0, query.stderr
        assert '"step":"inbound_received"' in query.stdout
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - started
    assert code == 0, log.read_text()
    assert "continuum: stopped" in log.read_text()
    assert took < 10, f"stopping took {took:.1f}s"


def test_up_refuses_a_bad_setting_with_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    env["CONTINUUM_API__PORT"] = "eighty"
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "up"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("continuum: invalid setting CONTINUUM_API__PORT")
