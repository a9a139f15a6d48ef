"""Continuum's own errors, typed as retryable or permanent.

::

    ContinuumError
    ├── ConfigError          a setting, flow file or server is wrong: stop with a clear message
    │   └── FlowError        a flow file failed validation (file:line: reason)
    ├── BadRecord            a Kafka record cannot be processed: dead-letter it (permanent)
    └── ShuttingDown         the process is stopping: leave the batch uncommitted for the next owner

Adapters have their own family in :mod:`channels.errors` (they never import this package).
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


class ShuttingDown(ContinuumError):
    """Raised inside a batch when the process is stopping before the batch is done.

    The batch is abandoned uncommitted, so the next owner of its partitions redoes it; work
    already done in it is made harmless by the deterministic ids.
    """

    retryable = True
