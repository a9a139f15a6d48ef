"""Expressions and templates: jinja2's sandbox, strict about names, bounded in work and size.

Variables a flow may use are ``customer``, ``event``, ``run``, ``flow`` and ``now`` (plus
``answer`` inside an ask category's expression); an unknown one fails validation at load time.

A runaway template cannot hang a worker: ``range()``, every ``{% for %}`` iteration and
repetition (``*``, ``**``) draw on one budget per evaluation, and output is capped while it is
produced. No step may build a string or list over
:data:`~orchestrator.engine.bounds.MAX_VALUE` (64 Ki characters or items): padding,
``replace``, ``join``, ``%``, ``str.format``, ``+`` and ``~`` are checked before they build,
every other filter and method on its result (:mod:`orchestrator.engine.bounds`). Lists, dicts and
sets cannot be changed in place, and the tags that collect output in a buffer (block ``set``,
``filter``, ``macro``, ``call``) are refused. These limits are counted, not timed, so the engine
stays deterministic.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache, update_wrapper
from typing import Any

from jinja2 import (
    ChainableUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    meta,
    nodes,
    pass_context,
)
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import FILTERS, make_attrgetter
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from markupsafe import EscapeFormatter, Markup

from orchestrator.engine import bounds

ROOTS = frozenset({"customer", "event", "run", "flow", "now"})
MAX_OUTPUT_CHARS = 4096
WORK_BUDGET = 10_000
"""Items ``range()`` may yield and characters repetition may build, per evaluation."""


_FAILURES = (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AssertionError)
"""What a template may raise for bad input (jinja's ``truncate`` asserts on its arguments)."""


class ExpressionError(ValueError):
    """Raised when a template or expression fails to compile, evaluate or stay in bounds."""


class _Budget:
    """What one render (or evaluation) may still spend; each gets its own, in its variables."""

    def __init__(self) -> None:
        self.left = WORK_BUDGET

    def spend(self, amount: int) -> None:
        self.left -= max(0, amount)
        if self.left < 0:
            raise ExpressionError(f"template work budget of {WORK_BUDGET} exceeded")


BUDGET = "__budget__"
"""The variable a render's :class:`_Budget` travels in (no flow can name it: templates may use
only :data:`ROOTS`), so that the environment, shared and cached, keeps no state of its own."""


def _budget_of(context: Any) -> _Budget:
    budget = context.get(BUDGET) if context is not None else None
    if not isinstance(budget, _Budget):
        raise ExpressionError("evaluated outside render() or evaluate(): no work budget")
    return budget


_COUNTED = "_counted_loop"
"""The filter every ``{% for %}`` iterable is wrapped in (it takes the context, so jinja never
evaluates it at compile time)."""
_BUFFERED = (nodes.AssignBlock, nodes.FilterBlock, nodes.Macro, nodes.CallBlock)


class _Codegen(CodeGenerator):
    """Compiles ``a ~ b`` to a size-checked join (jinja's own join cannot be intercepted)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat_bounded((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Formatter(SandboxedFormatter):
    """``str.format`` that checks each field's width and the running length of the result."""

    def __init__(self, env: Any, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._built = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        size = max(bounds.text_size(value), bounds.format_spec_width(format_spec))
        bounds.refuse_over(self._built + size, "formatted text")
        out = super().format_field(value, format_spec)
        self._built += len(out)
        return out


class _EscapeFormatter(_Formatter, EscapeFormatter):
    pass


def _counted(context: Any, items: Iterable[Any]) -> Iterator[Any]:
    """``items``, spending one unit of the render's budget per item (``range`` has paid)."""
    if isinstance(items, range):
        yield from items
        return
    budget = _budget_of(context)
    for item in items:
        budget.spend(1)
        yield item


def _range(context: Any, *args: int) -> Iterable[int]:
    values = range(*args)
    _budget_of(context).spend(len(values))
    return values


class FlowEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with counted ``range``, ``*`` and ``**``, and bounded sizes."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _Codegen

    def __init__(self) -> None:
        super().__init__(undefined=ChainableUndefined, autoescape=False)
        self.globals = {"range": pass_context(_range)}
        self.filters = _bounded_filters()
        self.filters[_COUNTED] = pass_context(_counted)

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    _budget_of(context).spend(len(seq) * times)
            return operator.mul(left, right)
        if operator_name == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                bounds.refuse_over(len(left) + len(right), "the sum")
            return operator.add(left, right)
        if operator_name == "%":
            if isinstance(left, str):
                bounds.refuse_over(bounds.percent_size(left, right), "formatted text")
            return bounds.check(operator.mod(left, right), "formatted text")
        if isinstance(right, int | float) and abs(right) > 64:
            raise ExpressionError("exponent too large")
        return operator.pow(left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """A call from sandboxed code: ``str`` methods that can outgrow their input are checked
        first, ``join`` on a materialised list, and every result afterwards."""
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            pre = bounds.METHOD_CHECKS.get(name)
            if pre is not None:
                pre(owner, *args, **kwargs)
            elif name == "join" and len(args) == 1 and not kwargs:
                items = bounds.items_of(args[0])
                bounds.refuse_over(bounds.join_size(items, owner), "joined text")
                args = (items,)
        result = super().call(__context, __obj, *args, **kwargs)
        return bounds.check(result, f"the result of {name or 'a call'}")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format``/``format_map`` through the bounded formatter."""
        if getattr(value, "__name__", None) not in ("format", "format_map"):
            return None
        owner = getattr(value, "__self__", None)
        if not isinstance(owner, str):
            return None
        is_map = value.__name__ == "format_map"
        kind = type(owner)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                mapping: Any = args[0]
                args, kwargs = (), mapping
            formatter: _Formatter
            if isinstance(owner, Markup):
                formatter = _EscapeFormatter(self, escape=owner.escape)
            else:
                formatter = _Formatter(self)
            return kind(formatter.vformat(owner, args, kwargs))

        return update_wrapper(wrapper, value)

    def concat_bounded(self, parts: Sequence[Any]) -> str:
        """``a ~ b ~ ...``, refused when the result would be over the bound."""
        texts = [str(p) for p in parts]
        bounds.refuse_over(sum(len(t) for t in texts), "joined text")
        return "".join(texts)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):  # every iteration draws on the work budget
            loop.iter = nodes.Filter(loop.iter, _COUNTED, [], [], None, None, lineno=loop.lineno)
        for node in tree.find_all(_BUFFERED):
            tag = {"AssignBlock": "set ... endset", "FilterBlock": "filter", "Macro": "macro"}
            kind = tag.get(type(node).__name__, "call")
            raise TemplateSyntaxError(
                f"{{% {kind} %}} blocks are not allowed in flow templates", node.lineno
            )
        return tree


def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> Any:
    items = bounds.items_of(value)
    if attribute is None:
        bounds.refuse_over(bounds.join_size(items, d), "joined text")
    return FILTERS["join"](eval_ctx, items, d, attribute)


def _sum(environment: Any, iterable: Iterable[Any], attribute: Any = None, start: Any = 0) -> Any:
    items = bounds.items_of(iterable)
    pick = make_attrgetter(environment, attribute) if attribute is not None else None
    picked = items if pick is None else [pick(i) for i in items]
    if not isinstance(start, int | float):
        sizes = [len(i) if isinstance(i, str | list | tuple) else 1 for i in picked]
        bounds.refuse_over(bounds.text_size(start) + sum(sizes), "the sum")
    return FILTERS["sum"](environment, items, attribute, start)


def _wordwrap(s: Any, width: int = 79, *args: Any, **kwargs: Any) -> None:
    wrap = kwargs.get("wrapstring", args[1] if len(args) > 1 else None) or "\n"
    bounds.refuse_over(bounds.text_size(s) * (1 + len(str(wrap))), "wrapped text")


def _count(what: str) -> Callable[..., None]:
    def pre(value: Any, n: Any = 0, *_: Any, **__: Any) -> None:
        if isinstance(n, int):
            bounds.refuse_over(n, what, bounds.MAX_GROUPS)

    return pre


def _format(value: Any, *args: Any, **kwargs: Any) -> None:
    bounds.refuse_over(bounds.percent_size(str(value), kwargs or args), "formatted text")


def _replace(s: Any, old: Any, new: Any, count: Any = None) -> None:
    bounds.refuse_over(bounds.text_size(s), "text")
    text, old_t, new_t = str(s), str(old), str(new)
    n = count if isinstance(count, int) else None
    bounds.refuse_over(bounds.replace_size(text, old_t, new_t, n), "replaced text")


_PRE: Mapping[str, Callable[..., None]] = {
    "center": bounds.METHOD_CHECKS["center"],
    "format": _format,
    "replace": _replace,
    "wordwrap": _wordwrap,
    "batch": _count("a batch"),
    "slice": _count("the slices"),
}


def _bounded_filters() -> dict[str, Callable[..., Any]]:
    """jinja's filters, each checked (``indent`` is left out: it pads every line)."""
    out: dict[str, Callable[..., Any]] = {}
    for name, func in FILTERS.items():
        if name == "indent":
            continue
        if name == "join":
            out[name] = bounds.bounded(update_wrapper(_join, func))
        elif name == "sum":
            out[name] = bounds.bounded(update_wrapper(_sum, func))
        else:
            out[name] = bounds.bounded(func, _PRE.get(name))
    return out


@lru_cache(maxsize=1)
def environment() -> FlowEnvironment:
    """The process's one flow environment, built on first use (compiling is pure; building it
    is not free). It holds no state of its own: each render brings its budget."""
    return FlowEnvironment()


COMPILED_CACHE_SIZE = 4096
"""Compiled templates and expressions kept per process. A flow's sources are fixed once its
catalogue is loaded, so the key is the source text: every flow version that uses the same text
shares one compiled template, and a reloaded catalogue with new text simply compiles anew."""


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def _template(source: str) -> Template:
    return environment().from_string(source)


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def _expression(expression: str) -> Callable[..., Any]:
    return environment().compile_expression(expression, undefined_to_none=False)


def render(source: str, variables: dict[str, Any]) -> str:
    """Render a template; raise :class:`ExpressionError` on any failure or overrun."""
    parts: list[str] = []
    size = 0
    try:
        for chunk in _template(source).generate({**variables, BUDGET: _Budget()}):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:  # stop producing: never build the whole of a bomb
                raise ExpressionError(f"rendered over {MAX_OUTPUT_CHARS} characters")
            parts.append(chunk)
    except ExpressionError:
        raise
    except bounds.TooLarge as exc:
        raise ExpressionError(str(exc)) from None
    except _FAILURES as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
    return "".join(parts).strip()


def evaluate(expression: str, variables: dict[str, Any]) -> Any:
    """Evaluate an expression (jinja syntax without braces)."""
    try:
        return _expression(expression)(**variables, **{BUDGET: _Budget()})
    except ExpressionError:
        raise
    except bounds.TooLarge as exc:
        raise ExpressionError(str(exc)) from None
    except _FAILURES as exc:
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
