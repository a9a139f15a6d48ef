"""The local provider: a FastAPI app that speaks the providers' real HTTP APIs for dev and tests."""

from __future__ import annotations

from channels.sandbox.app import create_sandbox_app
from channels.sandbox.config import SandboxConfig

__all__ = ["SandboxConfig", "create_sandbox_app"]
