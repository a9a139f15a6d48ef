"""One module per step type: its model, its ``run`` and, when it waits, its ``on_*`` methods.

A step never does I/O: it adds decisions and notes through the
:class:`~orchestrator.engine.steps.context.StepContext` it is given (never the session itself)
and returns a :class:`Goto`, :class:`Pause` or :class:`Stop`. ``registry.py`` lists the types.
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
