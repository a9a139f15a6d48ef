"""``continuum up`` as a user runs it: embedded servers, a message through, a clean stop."""

from __future__ import annotations

import json
import os
import pwd
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
from orchestrator.settings import Settings
from tests.integration.processes import env_for

REPO = Path(__file__).resolve().parents[2]


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, f"continuum exited early:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} within {timeout}s:\n{log.read_text()}"
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
    """Also: a second terminal in the same folder finds the service with no variables at all."""
    ports = {name: free_port() for name in ("kafka", "redis", "postgres", "api", "sandbox")}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    env = {
        **clean,
        "CONTINUUM_FLOWS_DIR": str(REPO / "flows"),
        "CONTINUUM_EMBEDDED__KAFKA_PORT": str(ports["kafka"]),
        "CONTINUUM_EMBEDDED__REDIS_PORT": str(ports["redis"]),
        "CONTINUUM_EMBEDDED__POSTGRES_PORT": str(ports["postgres"]),
        "CONTINUUM_API__PORT": str(ports["api"]),
        "CONTINUUM_SANDBOX__PORT": str(ports["sandbox"]),
    }
    log = tmp_path / "up.log"
    cli = [sys.executable, "-m", "orchestrator"]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*cli, "up"], cwd=data_dir, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    found = data_dir / ".continuum" / "addresses.json"
    try:
        _wait_for(log, "continuum: up in", proc, timeout=120)
        ready = httpx.get(f"http://127.0.0.1:{ports['api']}/readyz")
        assert ready.status_code == 200, ready.text
        assert json.loads(found.read_text())["api"] == f"http://127.0.0.1:{ports['api']}"

        def second_terminal(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*cli, *args],
                cwd=data_dir,
                env=clean,  # no CONTINUUM_* variable: the addresses come from `up`
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        sent = second_terminal("send", "sms", "--from", "+15551230001", "where is my order")
        assert sent.returncode == 0, sent.stderr

        # A reply to the customer's own message goes out at any hour (quiet hours hold only
        # marketing, and service messages that are not replies).
        deadline = time.monotonic() + 30
        messages: list[dict[str, object]] = []
        while not messages and time.monotonic() < deadline:
            messages = httpx.get(f"http://127.0.0.1:{ports['sandbox']}/_sandbox/messages").json()
            time.sleep(0.1)
        assert [m["to"] for m in messages] == ["+15551230001"]

        query = second_terminal("ledger", "query", "--address", "+15551230001", "--format", "jsonl")
        assert query.returncode == 0, query.stderr
        assert '"step":"inbound_received"' in query.stdout
        assert '"outcome":"flow_matched"' in query.stdout, query.stdout
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - started
    printed = log.read_text()
    assert code == 0, printed
    assert "continuum: stopped" in printed
    assert took < 10, f"stopping took {took:.1f}s"
    assert not found.exists(), "a clean stop leaves no addresses file"
    assert "HTTP Request:" not in printed, "httpx request logs at INFO"


@pytest.mark.timeout(120)
def test_up_as_a_non_root_user_in_a_read_only_folder_writes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    """The image's situation: uid 10001 in a root-owned /app, every server external."""
    folder = Path(tempfile.mkdtemp(prefix="continuum-ro-"))
    folder.chmod(0o555)  # root's, and read-only for everyone else
    nobody = pwd.getpwnam("nobody")
    api_port = free_port()
    env = env_for(
        settings,
        CONTINUUM_API__PORT=str(api_port),
        CONTINUUM_SANDBOX__PORT=str(settings.sandbox.port),
        HOME=nobody.pw_dir,
        PYTHONDONTWRITEBYTECODE="1",
    )
    log = tmp_path / "up.log"
    with log.open("ab") as out:
        # setpriv execs the command as nobody: the pid we hold is continuum's own.
        as_nobody = [
            "setpriv",
            f"--reuid={nobody.pw_uid}",
            f"--regid={nobody.pw_gid}",
            "--clear-groups",
        ]
        proc = subprocess.Popen(
            [*as_nobody, sys.executable, "-m", "orchestrator", "up"],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        ready = _readyz(api_port, proc, log, timeout=90)
        assert ready == 200, log.read_text()
        assert list(folder.iterdir()) == [], "continuum up wrote into its working folder"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        folder.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)
    assert code == 0, log.read_text()


def _readyz(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> int | None:
    """Poll GET /readyz until it answers 200 or ``timeout`` passes; the last status seen."""
    deadline = time.monotonic() + timeout
    status = None
    while status != 200 and time.monotonic() < deadline:
        assert proc.poll() is None, f"continuum up exited:\n{log.read_text()}"
        try:
            status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
        except httpx.TransportError:
            status = None
        time.sleep(0.1)
    return status
