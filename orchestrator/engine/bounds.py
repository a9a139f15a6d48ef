"""Size bounds for the template sandbox: nothing a template builds exceeds ``MAX_VALUE``.

Operations whose result can be far larger than their inputs (padding to a width, ``replace``,
``join``, ``%`` and ``str.format``, ``batch``/``slice`` padding, ``sum`` of sequences) are
checked *before* they build anything, from an upper estimate of the result's size; every other
filter and string method is at most a small constant factor of its input and is checked on
its result. Each input is already bounded, so no single step allocates more than a few times
``MAX_VALUE``. Sizes are counted in characters (strings) or items (sequences), never timed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sized
from functools import wraps
from typing import Any

MAX_VALUE = 65_536
"""Characters in any string, or items in any list, a template or expression may build."""

MAX_GROUPS = 4_096
"""Lists ``batch`` and ``slice`` may make (each is an object of its own, so fewer)."""
_SPEC = re.compile(r"%(?:\(([^)]*)\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")
_NUMBER_CHARS = 400
"""Room for one converted number (``%f`` of 1e308 is 316 characters)."""


class TooLarge(ValueError):
    """Raised when a template step would build a value over :data:`MAX_VALUE`."""


def check(value: Any, what: str = "value") -> Any:
    """``value`` unchanged, unless it is a string or sequence over the bound."""
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
        refuse_over(len(value), what)
    return value


def refuse_over(size: int, what: str, limit: int = MAX_VALUE) -> None:
    """Raise :class:`TooLarge` when ``size`` is over ``limit``."""
    if size > limit:
        raise TooLarge(f"{what} would be {size} long, over the limit of {limit}")


def text_size(value: Any) -> int:
    """An upper estimate of ``len(str(value))`` without building huge text."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int | float | bool) or value is None:
        return _NUMBER_CHARS
    if isinstance(value, Sized) and len(value) > MAX_VALUE:
        return MAX_VALUE + 1
    return len(str(value))


def percent_size(fmt: str, args: Any) -> int:
    """An upper estimate of ``fmt % args``: the format, each width, each argument once (each
    referenced mapping value once per reference)."""
    total = len(fmt)
    specs = _SPEC.findall(fmt)
    for key, width, precision, _ in specs:
        if "*" in (width, precision):
            raise TooLarge("a '*' width or precision is not allowed in templates")
        total += int(width or 0) + int(precision or 0)
        if key and isinstance(args, Mapping):
            total += text_size(args.get(key)) + _NUMBER_CHARS
    if not isinstance(args, Mapping):
        items = args if isinstance(args, tuple) else (args,)
        total += sum(text_size(a) for a in items) + _NUMBER_CHARS * len(specs)
    return total


def format_spec_width(spec: str) -> int:
    """The width and precision a ``str.format`` field asks for (0 when none)."""
    return sum(int(n) for n in re.findall(r"\d+", spec))


def replace_size(s: str, old: str, new: str, count: int | None = None) -> int:
    """The exact length of ``s.replace(old, new, count)``."""
    hits = s.count(old) if old else len(s) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * (len(new) - len(old))


def join_size(items: list[Any], separator: str) -> int:
    """An upper estimate of ``separator.join(map(str, items))``."""
    refuse_over(len(items), "a joined list")
    return sum(text_size(i) for i in items) + len(separator) * max(0, len(items) - 1)


def _pad(s: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    if isinstance(width, int):
        refuse_over(max(text_size(s), width), "padded text")


def _replace(s: Any, old: Any, new: Any, count: Any = None, *_: Any) -> None:
    if isinstance(s, str) and isinstance(old, str) and isinstance(new, str):
        refuse_over(replace_size(s, old, new, count if isinstance(count, int) else None), "text")


def _expandtabs(s: str, tabsize: Any = 8, *_: Any) -> None:
    if isinstance(tabsize, int):
        refuse_over(len(s) + s.count("\t") * max(0, tabsize), "text")


def _translate(s: str, table: Any = None, *_: Any) -> None:
    if isinstance(table, Mapping):
        longest = max((text_size(v) for v in table.values()), default=1)
        refuse_over(len(s) * max(1, longest), "translated text")


METHOD_CHECKS: dict[str, Callable[..., None]] = {
    "center": _pad,
    "ljust": _pad,
    "rjust": _pad,
    "zfill": _pad,
    "replace": _replace,
    "expandtabs": _expandtabs,
    "translate": _translate,
}
"""Pre-checks of the ``str`` methods whose result can outgrow their input by an argument;
``join`` and ``format`` are handled by the environment (they take iterables and fields)."""


def bounded(func: Callable[..., Any], pre: Callable[..., None] | None = None) -> Callable[..., Any]:
    """``func`` with an optional pre-check of its arguments and a check of its result; jinja's
    ``pass_context``/``pass_environment`` markers are kept (``wraps`` copies ``__dict__``), and
    the pre-check is given the arguments after the one such a marker adds."""
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        if pre is not None:
            pre(*args[skip:], **kwargs)
        return check(func(*args, **kwargs), "a filter's result")

    return run


def items_of(value: Iterable[Any]) -> list[Any]:
    """``list(value)`` for a value already bounded (every template value is)."""
    return check(list(value), "a list")  # type: ignore[no-any-return]
