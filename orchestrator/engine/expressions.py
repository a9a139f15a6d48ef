"""Expressions and templates: jinja2's sandbox, strict about names, bounded in work and size.

Variables a flow may use are ``customer``, ``event``, ``run``, ``flow`` and ``now`` (plus
``answer`` inside an ask category's expression); an unknown one fails validation at load time.

A runaway template cannot hang a worker: ``range()`` and repetition (``*``, ``**``) draw on one
budget per evaluation, and output is capped. These limits are counted, not timed, so the engine
stays deterministic.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

ROOTS = frozenset({"customer", "event", "run", "flow", "now"})
MAX_OUTPUT_CHARS = 4096
WORK_BUDGET = 10_000
"""Items ``range()`` may yield and characters repetition may build, per evaluation."""


class ExpressionError(ValueError):
    """Raised when a template or expression fails to compile, evaluate or stay in bounds."""


class _Budget:
    def __init__(self) -> None:
        self.left = WORK_BUDGET

    def spend(self, amount: int) -> None:
        self.left -= max(0, amount)
        if self.left < 0:
            raise ExpressionError(f"template work budget of {WORK_BUDGET} exceeded")


class FlowEnvironment(SandboxedEnvironment):
    """The sandbox with counted ``range``, ``*`` and ``**``."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=ChainableUndefined, autoescape=False)
        self._budget = _Budget()
        self.globals = {"range": self._range}
        self.filters.pop("indent", None)

    def reset_budget(self) -> None:
        """Give the next evaluation a full budget."""
        self._budget = _Budget()

    def _range(self, *args: int) -> Iterable[int]:
        values = range(*args)
        self._budget.spend(len(values))
        return values

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    self._budget.spend(len(seq) * times)
            return operator.mul(left, right)
        if isinstance(right, int | float) and abs(right) > 64:
            raise ExpressionError("exponent too large")
        return operator.pow(left, right)


_ENV: FlowEnvironment | None = None


def environment() -> FlowEnvironment:
    """The process's one flow environment (compiling is pure; building it is not free)."""
    global _ENV
    if _ENV is None:
        _ENV = FlowEnvironment()
    return _ENV


def render(source: str, variables: dict[str, Any]) -> str:
    """Render a template; raise :class:`ExpressionError` on any failure or overrun."""
    env = environment()
    env.reset_budget()
    try:
        text = env.from_string(source).render(variables)
    except ExpressionError:
        raise
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
    if len(text) > MAX_OUTPUT_CHARS:
        raise ExpressionError(f"rendered {len(text)} characters, over {MAX_OUTPUT_CHARS}")
    return text.strip()


def evaluate(expression: str, variables: dict[str, Any]) -> Any:
    """Evaluate an expression (jinja syntax without braces)."""
    env = environment()
    env.reset_budget()
    try:
        return env.compile_expression(expression, undefined_to_none=False)(**variables)
    except ExpressionError:
        raise
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None


def truthy(expression: str, variables: dict[str, Any]) -> bool:
    """Evaluate a condition; an undefined name or failure is an :class:`ExpressionError`."""
    return bool(evaluate(expression, variables))


def check_template(source: str, extra: Iterable[str] = ()) -> str | None:
    """Why a template is invalid (syntax, unknown variable), or ``None``."""
    return _check(source, extra)


def check_expression(expression: str, extra: Iterable[str] = ()) -> str | None:
    """Why an expression is invalid, or ``None``."""
    return _check("{{ (" + expression + ") }}", extra)


def _check(source: str, extra: Iterable[str]) -> str | None:
    try:
        unknown = meta.find_undeclared_variables(environment().parse(source)) - ROOTS - set(extra)
    except TemplateError as exc:  # parsing, and compiling (unknown filters and tests)
        return f"syntax error: {getattr(exc, 'message', None) or exc}"
    unknown -= {"range"}
    if unknown:
        names = ", ".join(sorted(unknown))
        return f"unknown variable(s) {names}; use {', '.join(sorted(ROOTS))}"
    return None
