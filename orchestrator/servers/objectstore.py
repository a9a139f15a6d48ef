"""The embedded object store Tansu keeps a durable broker's data in."""

from __future__ import annotations

import http.client
import sys
from pathlib import Path

from orchestrator.servers._process import (
    _PROBE_TIMEOUT,
    EmbeddedServer,
    _require_free_port,
    _spawn,
    _wait_ready,
)

OBJECTSTORE_START_TIMEOUT = 10.0


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
