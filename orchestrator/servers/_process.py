"""Child processes of the embedded servers: spawning, readiness polling, stopping, logs."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LOG_TAIL_LINES = 20

_POLL_INTERVAL = 0.05

_PROBE_TIMEOUT = 1.0


class ServerStartError(RuntimeError):
    """An embedded server did not come up; the message carries the tail of its log.

    Example:
        >>> raise ServerStartError("redis", "exited with code 1", "Address already in use")
    """

    def __init__(self, name: str, reason: str, log_tail: str = "") -> None:
        self.name = name
        self.reason = reason
        self.log_tail = log_tail
        message = f"{name} failed to start: {reason}"
        if log_tail:
            message += f"\n--- last lines of the {name} log ---\n{log_tail}"
        super().__init__(message)


@dataclass
class EmbeddedServer:
    """A running server process and the URL clients use to reach it.

    Example:
        >>> server = start_redis(free_port(), log_dir=tmp)
        >>> server.alive()
        True
        >>> server.stop(); server.stop()  # idempotent
    """

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    # PostgreSQL treats SIGTERM as "smart" shutdown, which waits for every client to leave;
    # it is started with SIGINT ("fast") instead so stop() does not hang on an open pool.
    stop_signal: int = field(default=signal.SIGTERM)
    # Processes this server depends on (Tansu's object store): stopped after it, in order.
    companions: list[EmbeddedServer] = field(default_factory=list)

    def alive(self) -> bool:
        """Whether the process (and every companion) is still running."""
        return self.process.poll() is None and all(c.alive() for c in self.companions)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the server to stop, wait up to `timeout` seconds, then kill it. Idempotent."""
        try:
            self._stop(timeout)
        finally:
            for companion in self.companions:
                companion.stop(timeout)

    def _stop(self, timeout: float) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                self.process.wait()
        else:
            self.process.wait()  # reap, so no zombie and no ResourceWarning

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines of the server's log ("" when there is none yet)."""
        return _tail(self.log_path, lines)


def _spawn(
    name: str,
    url: str,
    argv: list[str],
    log_dir: Path,
    *,
    run_as: pwd.struct_passwd | None = None,
    cwd: Path | None = None,
    stop_signal: int = signal.SIGTERM,
    extra_env: dict[str, str] | None = None,
) -> EmbeddedServer:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        # The child keeps its own copy of the log descriptor; ours closes with this block.
        # A new session keeps a terminal's Ctrl-C away from the servers, so the CLI can stop
        # its workers first and the servers last.
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**_child_env(run_as), **(extra_env or {})},
            start_new_session=True,
            user=_uid(run_as),
            group=_gid(run_as),
            extra_groups=_extra_groups(run_as),
        )
    return EmbeddedServer(
        name=name, url=url, process=process, log_path=log_path, stop_signal=stop_signal
    )


def _wait_ready(server: EmbeddedServer, timeout: float, probe: Callable[[], bool]) -> None:
    """Poll `probe` until it passes; on any failure (even Ctrl-C) leave no process behind."""
    try:
        _poll(server, timeout, probe)
    except BaseException:
        server.stop()
        raise


def _poll(server: EmbeddedServer, timeout: float, probe: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while True:
        code = server.process.poll()
        if code is not None:
            raise ServerStartError(server.name, f"exited with code {code}", server.log_tail())
        if probe():
            if server.alive():
                return
            continue  # it answered and then died: report the exit code above
        if time.monotonic() >= deadline:
            raise ServerStartError(
                server.name, f"not ready after {timeout:.0f}s", server.log_tail()
            )
        time.sleep(_POLL_INTERVAL)


def _require_free_port(name: str, host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ServerStartError(name, f"cannot listen on {host}:{port}: {exc}") from None


def _ensure_executable(path: Path, name: str) -> None:
    if os.access(path, os.X_OK):
        return
    try:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError as exc:
        raise ServerStartError(name, f"{path} is not executable and chmod failed: {exc}") from None


def _child_env(run_as: pwd.struct_passwd | None) -> dict[str, str]:
    env = dict(os.environ)
    # Tansu reads its settings from these too; the command line must be the only source.
    for key in ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE"):
        env.pop(key, None)
    for key in [k for k in env if k.startswith("AWS_")]:  # Tansu's S3 client reads these
        del env[key]
    if run_as is not None:
        env.update(HOME=run_as.pw_dir, USER=run_as.pw_name, LOGNAME=run_as.pw_name)
    return env


# Popen(user=...) switches user in the child right before exec, so the process we hold is
# postgres itself (under runuser it would be a wrapper that delays and rewrites signals).
def _uid(run_as: pwd.struct_passwd | None) -> int | None:
    return None if run_as is None else run_as.pw_uid


def _gid(run_as: pwd.struct_passwd | None) -> int | None:
    return None if run_as is None else run_as.pw_gid


def _extra_groups(run_as: pwd.struct_passwd | None) -> list[int] | None:
    return None if run_as is None else []


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_bytes()[-64 * 1024 :].decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)
