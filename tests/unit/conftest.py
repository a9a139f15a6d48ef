"""Unit-test fixtures: every test starts from an environment without ``CONTINUUM_*`` variables."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strip every ``CONTINUUM_*`` variable, so the developer's shell cannot change a result."""
    for name in list(os.environ):
        if name.upper().startswith("CONTINUUM_"):
            monkeypatch.delenv(name)
