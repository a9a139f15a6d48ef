"""The embedded Redis (``redis-server`` from Debian)."""

from __future__ import annotations

import re
import shutil
import socket
import time
from pathlib import Path

from orchestrator.servers._ports import _package
from orchestrator.servers._process import (
    _PROBE_TIMEOUT,
    EmbeddedServer,
    ServerStartError,
    _wait_ready,
)

REDIS_START_TIMEOUT = 10.0


def start_redis(
    port: int, *, host: str = "127.0.0.1", data_dir: Path | None = None, log_dir: Path
) -> EmbeddedServer:
    """Start `redis-server` and wait until it answers PING.

    Ephemeral (no RDB, no AOF) when `data_dir` is None, else append-only files in `data_dir`.
    Readiness also checks the answering server's pid, so a Redis already on the port is
    reported as a failure instead of being used.

    Example:
        >>> redis = start_redis(free_port(), log_dir=Path("/tmp/logs"))
        >>> redis.url
        'redis://127.0.0.1:40124/0'
    """
    name = "redis"
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerStartError(name, "redis-server is missing: apt-get install redis-server")
    argv = [binary, "--port", str(port), "--bind", host, "--daemonize", "no", "--save", ""]
    # Background chores (expiry sampling, client timeouts) once a second, not 10 times: an idle
    # embedded Redis then costs next to nothing. Expired keys still vanish when read.
    argv += ["--hz", "1"]
    if data_dir is None:
        argv += ["--appendonly", "no"]
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--dir", str(data_dir.resolve()), "--appendonly", "yes"]
    # Looked up on the package, so that a test can replace them there (monkeypatch).
    package = _package()
    server: EmbeddedServer = package._spawn(name, f"redis://{host}:{port}/0", argv, log_dir)
    pid = package._redis_pid
    _wait_ready(server, package.REDIS_START_TIMEOUT, lambda: pid(host, port) == server.process.pid)
    return server


def _redis_pid(host: str, port: int) -> int | None:
    """PING, then INFO server; return the answering server's process id, or None."""
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT) as sock:
            sock.settimeout(_PROBE_TIMEOUT)
            sock.sendall(b"PING\r\nINFO server\r\n")
            data = b""
            deadline = time.monotonic() + _PROBE_TIMEOUT
            while b"process_id:" not in data or not data.endswith(b"\r\n"):
                if time.monotonic() > deadline:
                    return None
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                data += chunk
                if data.startswith(b"-"):  # e.g. -LOADING: not ready yet
                    return None
    except OSError:
        return None
    if not data.startswith(b"+PONG"):
        return None
    match = re.search(rb"process_id:(\d+)", data)
    return int(match.group(1)) if match else None
