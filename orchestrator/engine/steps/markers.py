"""Field markers: what the loader, lint, the graph and coverage need to know about a field.

A step (or any part of a flow) says what its fields hold with ``Annotated``::

    url: Annotated[str, Evaluated()]                  # a template, rendered at run time
    when: Annotated[str, Expression()]                # an expression
    on_error: Annotated[StepRef | None, Target()]     # a step of this flow the run may go to
    flow: Annotated[str, FlowRef()]                   # another flow of the folder
    template: Annotated[Text, Evaluated(localized=True)]   # also: per-language variants

A marked mapping or sequence marks each of its values. :func:`marked` walks a model and the
models inside it (menu rows, switch cases, ...) and gives each marked value with its location,
so ``flowfile.py`` checks every template, expression and reference without knowing step types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Evaluated:
    """A template (names and syntax are checked at load). ``localized``: the value may be a
    mapping of language code to template, which must hold the flow's default language."""

    localized: bool = False


@dataclass(frozen=True, slots=True)
class Expression:
    """An expression; ``extra`` names the variables it sees besides the usual ones."""

    extra: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Target:
    """The id of a step of the same flow."""


@dataclass(frozen=True, slots=True)
class FlowRef:
    """The id of another flow in the same folder."""


@dataclass(frozen=True, slots=True)
class Regex:
    """A regular expression (it must compile)."""


Marker = Evaluated | Expression | Target | FlowRef | Regex
Marked = tuple[Loc, Marker, object]
"""A marked value: where it is, how it is marked, and the value itself."""


@dataclass(frozen=True, slots=True)
class Check:
    """What a part's :meth:`~orchestrator.engine.spec_base.Spec.problems` may look at."""

    allowed_hosts: frozenset[str] = frozenset()
    default_language: str = "en"


@dataclass(frozen=True, slots=True)
class Advice:
    """A lint finding a step gives about itself."""

    rule: str
    message: str
    severity: Literal["warning", "error"] = "warning"


def marked(model: BaseModel, loc: Loc = ()) -> Iterator[Marked]:
    """Every marked value in ``model`` and the models inside it, in field order."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        here = (*loc, name)
        for marker in info.metadata:
            if isinstance(marker, Marker) and value is not None:
                yield here, marker, value
        for inner_loc, inner in _models(value, here):
            yield from marked(inner, inner_loc)
    extra = getattr(model, "markers", None)
    if extra is not None:
        for rel, marker, value in extra():
            yield (*loc, *rel), marker, value


def problems(model: BaseModel, check: Check, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """Every problem ``model`` and the models inside it report (inner models first)."""
    for name in type(model).model_fields:
        for inner_loc, inner in _models(getattr(model, name), (*loc, name)):
            yield from problems(inner, check, inner_loc)
    own = getattr(model, "problems", None)
    if own is not None:
        for rel, why in own(check):
            yield (*loc, *rel), why


def leaves(loc: Loc, value: object) -> Iterator[tuple[Loc, str]]:
    """The strings of a marked value: itself, or each item of a mapping or sequence."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from leaves((*loc, str(key)), item)
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from leaves((*loc, i), item)


def _models(value: object, loc: Loc) -> Iterator[tuple[Loc, BaseModel]]:
    if isinstance(value, BaseModel):
        yield loc, value
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            if isinstance(item, BaseModel):
                yield (*loc, i), item
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, BaseModel):
                yield (*loc, str(key)), item
