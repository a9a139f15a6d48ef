"""Running ``continuum`` as a separate process, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestrator.settings import Settings


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """The ``CONTINUUM_*`` environment that reproduces ``settings`` in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    k = settings.kafka
    env.update(
        {
            "CONTINUUM_KAFKA__BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
            "CONTINUUM_KAFKA__TOPIC_PREFIX": k.topic_prefix,
            "CONTINUUM_KAFKA__GROUP_PREFIX": k.group_prefix,
            "CONTINUUM_KAFKA__PARTITIONS": str(k.partitions),
            "CONTINUUM_KAFKA__SESSION_TIMEOUT_MS": str(k.session_timeout_ms),
            "CONTINUUM_REDIS_URL": settings.redis,
            "CONTINUUM_DATABASE_URL": settings.database,
            "CONTINUUM_FLOWS_DIR": str(settings.flows_dir),
            "CONTINUUM_API__PUBLIC_URL": settings.api_public_url,
            "CONTINUUM_METRICS__PORT": str(settings.metrics.port),
            "CONTINUUM_TWILIO__BASE_URL": settings.twilio.base_url,
            "CONTINUUM_TWILIO__ACCOUNT_SID": settings.twilio.account_sid,
            "CONTINUUM_TWILIO__AUTH_TOKEN": settings.twilio.auth_token.get_secret_value(),
            "CONTINUUM_RATE_LIMITS__ENABLED": str(settings.rate_limits.enabled).lower(),
        }
    )
    env.update(extra)
    return env


def spawn(
    args: list[str], env: dict[str, str], log: Path, *, crash_before_commit: str | None = None
) -> subprocess.Popen[bytes]:
    """Start ``continuum ARGS`` with its output in ``log``; with ``crash_before_commit``, the
    worker of that name exits abruptly before its first commit
    (:mod:`tests.integration.crash_before_commit`)."""
    command = (
        ["-m", "tests.integration.crash_before_commit", crash_before_commit]
        if crash_before_commit
        else ["-m", "orchestrator"]
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *command, *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
