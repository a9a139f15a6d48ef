"""``python -m tests.integration.crash_before_commit WORKER ARGS...``: ``continuum ARGS`` whose
worker named ``WORKER`` (``inbound``, ``events``, ``decision``, ``dispatcher``, ``status``,
``ledger``) exits abruptly, with status :data:`CRASH_EXIT_CODE`, after doing a batch's work and
before committing its offsets.

A test hook, not a setting: it replaces :meth:`WorkerRunner._commit` in this process only, so
production code has no way to crash itself (start it with
``tests.integration.processes.spawn(..., crash_before_commit=WORKER)``).
"""

from __future__ import annotations

import logging
import os
import sys

from faststream.kafka import KafkaMessage

from orchestrator.cli import main
from orchestrator.workers.runtime import WorkerRunner

CRASH_EXIT_CODE = 86
log = logging.getLogger(__name__)


def install(worker: str) -> None:
    """Make the runner of ``worker`` exit just before it commits a batch."""
    commit = WorkerRunner._commit

    async def crash_first(runner: WorkerRunner, msg: KafkaMessage) -> None:
        if runner.worker.name == worker:
            log.critical("crash_before_commit=%s: exiting before the commit", worker)
            os._exit(CRASH_EXIT_CODE)
        await commit(runner, msg)

    WorkerRunner._commit = crash_first  # type: ignore[method-assign,assignment]


if __name__ == "__main__":
    install(sys.argv[1])
    raise SystemExit(main(sys.argv[2:]))
