"""A 3-master Redis Cluster on loopback free ports, for the integration tier.

Three ``redis-server --cluster-enabled yes`` processes (no persistence; the cluster bus on a
free port of its own), joined by
``redis-cli --cluster create ... --cluster-replicas 0``; ready once every node's
``CLUSTER INFO`` says ``cluster_state:ok``. The fixture :func:`redis_cluster_url` gives a
``redis+cluster://`` URL (:mod:`orchestrator.redis_client`) and stops the nodes at the end.

Example (tests/integration/conftest.py):
    from tests.integration.redis_cluster import redis_cluster_url
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.servers import free_port

CLUSTER_ENV = "CONTINUUM_TEST_REDIS_CLUSTER_URL"
START_TIMEOUT_S = 30.0


@dataclass
class RedisCluster:
    """The node processes and their ports."""

    ports: list[int]
    processes: list[subprocess.Popen[bytes]]

    @property
    def url(self) -> str:
        """Any node will do: the client discovers the others."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def stop(self) -> None:
        """Stop every node and wait for it."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start_cluster(work_dir: Path, masters: int = 3) -> RedisCluster:
    """Start ``masters`` nodes under ``work_dir``, join them, and wait for ``cluster_state:ok``."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        raise RuntimeError("redis-server and redis-cli are needed: apt-get install redis-server")
    cluster = RedisCluster([], [])
    try:
        for _ in range(masters):
            port = free_port()
            node_dir = work_dir / str(port)
            node_dir.mkdir(parents=True)
            argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"]
            argv += ["--cluster-config-file", str(node_dir / "nodes.conf"), "--dir", str(node_dir)]
            argv += ["--cluster-port", str(free_port())]  # not port + 10000: may be over 65535
            argv += ["--save", "", "--appendonly", "no"]
            with (node_dir / "redis.log").open("wb") as log:
                proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            cluster.processes.append(proc)
            cluster.ports.append(port)
        for port in cluster.ports:
            _wait(lambda p=port: _cli(cli, p, "PING") == "PONG", f"node {port} answers PING")
        nodes = [f"127.0.0.1:{p}" for p in cluster.ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_S,
        )
        for port in cluster.ports:
            _wait(
                lambda p=port: "cluster_state:ok" in _cli(cli, p, "CLUSTER", "INFO"),
                f"node {port} reports cluster_state:ok",
            )
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _cli(cli: str, port: int, *command: str) -> str:
    done = subprocess.run(
        [cli, "-h", "127.0.0.1", "-p", str(port), *command],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    return done.stdout.strip()


def _wait(ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis cluster: timed out waiting until {what}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis+cluster://127.0.0.1:port`` of a fresh 3-master cluster (unless the env var is
    set), stopped when the session ends."""
    if external := os.environ.get(CLUSTER_ENV):
        yield external
        return
    cluster = start_cluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster.url
    finally:
        cluster.stop()
