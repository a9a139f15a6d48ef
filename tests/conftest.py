"""Shared fixtures for every tier."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from orchestrator.settings import Settings


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``CONTINUUM_*`` variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("CONTINUUM_") and not name.startswith("CONTINUUM_TEST_"):
            monkeypatch.delenv(name)
    # Nor does a .env file in the folder the tests run from (Settings reads one when present).
    monkeypatch.setitem(Settings.model_config, "env_file", None)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Tests that run ``main()`` or ``logs.configure`` change the root logger and the levels of
    the loggers it quietens; give pytest its handlers and those levels back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    names = ("httpx", "httpcore", "uvicorn.access", "aiokafka")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
