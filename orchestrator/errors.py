"""Continuum's own errors, typed as retryable or permanent.

::

    ContinuumError
    ├── ConfigError          a setting, flow file or server is wrong: stop with a clear message
    │   └── FlowError        a flow file failed validation (file:line: reason)
    ├── BadRecord            a Kafka record cannot be processed: dead-letter it (permanent)
    ├── InfraUnavailable     Redis, the broker or PostgreSQL failed a call: retry the batch later
    │                        (also a ConnectionError, so ``except OSError`` handlers still see it)
    └── ShuttingDown         the process is stopping: leave the batch uncommitted for the next owner

Adapters have their own family in :mod:`channels.errors` (they never import this package).
The clients' own errors become :class:`InfraUnavailable` in one place, at the boundary
(:mod:`orchestrator.infra`).
"""

from __future__ import annotations


class ContinuumError(Exception):
    """Base of every error Continuum raises on purpose."""

    retryable: bool = False


class ConfigError(ContinuumError):
    """Raised when configuration, flows or a server are unusable; the process should stop."""


class FlowError(ConfigError):
    """Raised when flow files fail validation; ``problems`` holds one ``file:line: reason`` each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class BadRecord(ContinuumError):
    """Raised when a record is not JSON, not a CloudEvent, or its data fails validation.

    ``reason`` is a stable short code (a metrics label); ``detail`` is the human explanation.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class InfraUnavailable(ContinuumError, ConnectionError):
    """Raised when Redis, the Kafka broker or PostgreSQL cannot be reached or fails a call.

    ``service`` names which (``redis``, ``kafka``, ``postgres``; ``network`` for an OS-level
    failure that names none); the client's error is the ``__cause__``. Retryable: a worker
    rewinds its batch and tries again after a pause, and never dead-letters for it.
    """

    retryable = True

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} unavailable: {detail}")
        self.service = service
        self.detail = detail


class ShuttingDown(ContinuumError):
    """Raised inside a batch when the process is stopping before the batch is done.

    The batch is abandoned uncommitted, so the next owner of its partitions redoes it; work
    already done in it is made harmless by the deterministic ids.
    """

    retryable = True
