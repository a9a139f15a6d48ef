"""One module per step type. Each ``run(step, ctx)`` returns where the run goes next.

A step never does I/O: it appends decisions and notes to the :class:`~orchestrator.engine.
session.Session` and returns a :class:`Goto`, :class:`Pause` or :class:`Stop`.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engine.model import Run


@dataclass(frozen=True, slots=True)
class Goto:
    """Continue at ``step`` (``None``: the flow is finished)."""

    step: str | None
    run: Run


@dataclass(frozen=True, slots=True)
class Pause:
    """The run waits (``run.waiting`` says for what)."""

    run: Run


@dataclass(frozen=True, slots=True)
class Stop:
    """End the current flow."""

    run: Run


Result = Goto | Pause | Stop
