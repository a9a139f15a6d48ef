"""Message templates: jinja2's sandbox, strict about unknown variables, capped in size."""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

MAX_OUTPUT_CHARS = 4096
"""A rendered message longer than this is an error, not a 30-segment SMS."""


class TemplateRenderError(ValueError):
    """Raised when a template fails to render or renders too much."""


def make_environment() -> SandboxedEnvironment:
    """The one template environment: sandboxed, unknown variables fail, no autoescape for SMS."""
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )


def render(env: SandboxedEnvironment, source: str, variables: dict[str, Any]) -> str:
    """Render ``source`` with ``variables``; raise :class:`TemplateRenderError` on any failure."""
    try:
        text = env.from_string(source).render(variables)
    except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:  # runtime errors too
        raise TemplateRenderError(str(exc)) from None
    if len(text) > MAX_OUTPUT_CHARS:
        raise TemplateRenderError(f"rendered {len(text)} characters, over {MAX_OUTPUT_CHARS}")
    return text.strip()
