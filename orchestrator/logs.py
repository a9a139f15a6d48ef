"""Logging set-up for every ``continuum`` process: readable text, or one JSON object a line.

At ``INFO`` the console says what Continuum does, not every HTTP request its clients make: the
request logs of httpx (one line per provider, sandbox and health call) and uvicorn's access log
are raised to ``WARNING``; ``DEBUG`` lets them through again.

Example::

    configure("INFO", "json")
    logging.getLogger("orchestrator").info("ready")
    # {"ts": "2026-12-01T23:10:00.123Z", "level": "INFO", "logger": "orchestrator",
    #  "message": "ready", "exception": null}
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# One line per request at INFO: shown only at DEBUG.
QUIET_AT_INFO = ("httpx", "httpcore", "uvicorn.access")
# uvicorn's loggers: their records go through the root handler, in our format.
UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")
# aiokafka narrates every connection and rebalance, even at DEBUG more than anyone reads.
QUIET_ALWAYS = ("aiokafka",)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts``, ``level``, ``logger``, ``message``, ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON; a traceback goes in ``exception``, never on new lines."""
        exception = None
        if record.exc_info:
            exception = self.formatException(record.exc_info)
        elif record.exc_text:
            exception = record.exc_text
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "exception": exception,
        }
        return orjson.dumps(doc, default=str).decode()


def configure(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Send every log record to ``stream`` (stderr) at ``level``, as ``text`` or ``json``.

    Replaces the root logger's handlers, so it may be called again (tests do).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in UVICORN:  # uvicorn's own dictConfig, if it ran first, gives them handlers
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    for name in QUIET_AT_INFO:
        logging.getLogger(name).setLevel(quiet)
    for name in QUIET_ALWAYS:
        logging.getLogger(name).setLevel(logging.WARNING)
