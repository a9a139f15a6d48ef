"""The embedded PostgreSQL (``initdb``, ``postgres`` and ``psql`` from Debian)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

from orchestrator.servers._process import (
    EmbeddedServer,
    ServerStartError,
    _child_env,
    _extra_groups,
    _gid,
    _spawn,
    _tail,
    _uid,
    _version_key,
    _wait_ready,
)

POSTGRES_START_TIMEOUT = 30.0

INITDB_TIMEOUT = 120.0

DATABASE_NAME = "continuum"

POSTGRES_OS_USER = "postgres"


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
