"""Where the service that ``continuum up`` started in this folder listens.

``up`` writes ``<data dir>/addresses.json`` once it is ready, when it embeds a server (the data
folder is in use then anyway; with only external servers it writes nothing), and removes it on a
clean stop. The client commands (``send``, ``ledger``, ``policy``, ``flows reload``,
``flows replay``) read it, so a second terminal in the same folder needs no variables: for each
server, a setting from the environment (or ``.env``) wins, then the file, then the default.
A file whose process is gone (``up`` was killed) is ignored.

Example::

    settings = located(Settings())   # the embedded broker on the port `up` used
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from orchestrator.errors import ConfigError
from orchestrator.settings import Settings

FILE_NAME = "addresses.json"


@dataclass(frozen=True, slots=True)
class Addresses:
    """What a running ``continuum up`` serves, as clients on this machine reach it."""

    pid: int
    kafka: str
    redis: str
    database: str
    api: str | None
    sandbox: str | None


def path_of(settings: Settings) -> Path:
    """``<data dir>/addresses.json``."""
    return settings.data_dir / FILE_NAME


def read(settings: Settings) -> Addresses | None:
    """The file's addresses, or ``None`` if there is none, it is unreadable or its process died."""
    try:
        doc = orjson.loads(path_of(settings).read_bytes())
        found = Addresses(**{k: doc.get(k) for k in Addresses.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(found.pid, int) or not _alive(found.pid):
        return None
    return found


def write(settings: Settings, api: str | None, sandbox: str | None) -> Path:
    """Write this process's addresses (owner-only: a database URL may hold a password)."""
    found = Addresses(
        os.getpid(), settings.kafka_bootstrap, settings.redis, settings.database, api, sandbox
    )
    target = path_of(settings)
    partial = target.with_name(f".{FILE_NAME}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(orjson.dumps(asdict(found), option=orjson.OPT_INDENT_2) + b"\n")
    partial.replace(target)  # atomic: a reader sees the old file or the new one
    return target


def remove(target: Path) -> None:
    """Remove the file written by :func:`write`, if it is still ours."""
    with contextlib.suppress(OSError, ValueError):
        if orjson.loads(target.read_bytes()).get("pid") == os.getpid():
            target.unlink()


def refuse_if_running(settings: Settings) -> None:
    """Raise :class:`ConfigError` when another ``continuum up`` already runs in this data folder."""
    found = read(settings)
    if found is not None and found.pid != os.getpid():
        where = f"; API {found.api}" if found.api else ""
        raise ConfigError(
            f"continuum up is already running with data folder {settings.data_dir} "
            f"(pid {found.pid}{where}); stop it, or set CONTINUUM_DATA_DIR for a second one"
        )


def located(settings: Settings) -> Settings:
    """``settings`` with each server the environment leaves unset taken from a running ``up``."""
    found = read(settings)
    if found is None:
        return settings
    update: dict[str, object] = {}
    if settings.kafka.bootstrap_servers is None:
        update["kafka"] = settings.kafka.model_copy(update={"bootstrap_servers": found.kafka})
    if settings.redis_url is None:
        update["redis_url"] = found.redis
    if settings.database_url is None:
        update["database_url"] = found.database
    if found.api and not settings.api.model_fields_set & {"host", "port", "public_url"}:
        url = urlsplit(found.api)
        if url.hostname and url.port:
            update["api"] = settings.api.model_copy(update={"host": url.hostname, "port": url.port})
    return settings.model_copy(update=update)


def client_url(host: str, port: int) -> str:
    """``http://host:port`` as a client on this machine reaches it (a wildcard host is loopback)."""
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - not a bind
    return f"http://{host}:{port}"


def api_url(settings: Settings) -> str:
    """Where a command on this machine reaches the API."""
    return client_url(settings.api.host, settings.api.port)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    except OSError:
        return False
    return True
