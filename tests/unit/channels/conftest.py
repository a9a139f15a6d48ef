"""Fixtures for the channel unit tests, defined in sandbox_harness so tests can import its types."""

from __future__ import annotations

from sandbox_harness import sandbox, sandbox_config

__all__ = ["sandbox", "sandbox_config"]
