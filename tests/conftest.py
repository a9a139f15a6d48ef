"""Shared fixtures for every tier."""

from __future__ import annotations

import os

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
