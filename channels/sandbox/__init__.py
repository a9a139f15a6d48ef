"""The local provider: a FastAPI app that speaks the providers' real HTTP APIs for dev and tests.

The names below load on first use (PEP 562): each provider's sandbox fake lives in its own
package (``channels/<provider>/sandbox.py``) and imports this package's shared parts, so this
package must not import the app, and with it every fake, while it is itself being imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from channels.sandbox.app import create_sandbox_app
    from channels.sandbox.config import SandboxConfig

__all__ = ["SandboxConfig", "create_sandbox_app"]


def __getattr__(name: str) -> Any:
    if name == "create_sandbox_app":
        from channels.sandbox.app import create_sandbox_app

        return create_sandbox_app
    if name == "SandboxConfig":
        from channels.sandbox.config import SandboxConfig

        return SandboxConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
