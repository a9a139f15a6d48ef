"""Free loopback ports for the embedded servers and the tests."""

from __future__ import annotations

import random
import socket
import sys
from pathlib import Path
from types import ModuleType


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that is free now and that this process has not handed out before.

    The port comes from below the kernel's ephemeral range when there is room there: the OS
    gives ports from that range to every outbound connection (Kafka, Redis, HTTP clients), so a
    port picked from it with ``bind(0)`` can be taken by one of them before the server binds it.

    Example:
        >>> port = free_port()
    """
    low, _high = _package()._ephemeral_range()  # looked up there: tests replace it
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


def _package() -> ModuleType:
    """The ``orchestrator.servers`` package, whose attributes tests replace (monkeypatch)."""
    return sys.modules[__package__ or "orchestrator.servers"]
