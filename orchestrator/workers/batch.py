"""One consumed batch, processed so that nothing is lost and nothing blocks the partition.

- The batch's work succeeds: commit.
- Redis, PostgreSQL or the broker fails (:class:`~orchestrator.errors.InfraUnavailable`, which
  the stores and the publisher raise for their clients' errors): rewind and retry the batch
  later (``RETRY``).
- Anything else fails (a bug, or input that validation let through): the records are processed
  one by one, and each one that still fails is dead-lettered with the error, so that the others
  go through and the partition moves on.
- The process is stopping (``ShuttingDown``): neither commit nor rewind (``ABANDON``); the next
  owner of the partitions redoes the batch.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence

from orchestrator.errors import BadRecord, InfraUnavailable, ShuttingDown
from orchestrator.infra import unavailable
from orchestrator.workers.base import BatchWorker, Record, position

log = logging.getLogger(__name__)


class Verdict(enum.Enum):
    """What to do with the batch's offsets."""

    COMMIT = "commit"
    RETRY = "retry"
    ABANDON = "abandon"  # the process is stopping: neither commit nor rewind


async def process(worker: BatchWorker, records: Sequence[Record]) -> Verdict:
    """Run ``worker`` over ``records`` and say whether to commit or to rewind and retry.

    Dead letters are published only by the pass whose verdict is ``COMMIT``, once each: a pass
    that is abandoned (an outage, or a failure that sends the batch record by record) publishes
    none, so a record position gets exactly one dead letter (its id is ``dlq:<position>``).
    """
    worker.discard_rejected()
    try:
        # The stores and the publisher translate their clients' errors; unavailable() here
        # also covers a client a handler calls directly (a pipeline it executes itself).
        with unavailable():
            await worker.handle(records)
    except ShuttingDown:
        worker.discard_rejected()
        return Verdict.ABANDON
    except InfraUnavailable as exc:
        worker.discard_rejected()
        log.error("%s: batch failed on a dependency: %s", worker.name, exc)
        return Verdict.RETRY
    except Exception:
        worker.discard_rejected()
        log.exception("%s: batch of %d failed; isolating records", worker.name, len(records))
        return await _one_by_one(worker, records)
    return await _publish_rejected(worker)


async def _one_by_one(worker: BatchWorker, records: Sequence[Record]) -> Verdict:
    for record in records:
        try:
            with unavailable():
                await worker.handle([record])
        except ShuttingDown:
            worker.discard_rejected()
            return Verdict.ABANDON
        except InfraUnavailable:
            worker.discard_rejected()
            return Verdict.RETRY
        except Exception as exc:
            log.exception("%s: dead-lettering %s", worker.name, position(record))
            detail = f"{type(exc).__name__}: {exc}"
            await worker.reject(record, BadRecord("processing_error", detail))
    return await _publish_rejected(worker)


async def _publish_rejected(worker: BatchWorker) -> Verdict:
    try:
        with unavailable():
            await worker.publish_rejected()
    except InfraUnavailable as exc:
        log.error("%s: dead letters not confirmed: %s", worker.name, exc)
        return Verdict.RETRY
    return Verdict.COMMIT
