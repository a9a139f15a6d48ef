"""Flow files: YAML in, a validated :class:`Catalogue` out, with errors as ``file:line: reason``.

Validation happens at load time, for every flow, so that nothing is found broken only when a
customer reaches it: the schema (:mod:`orchestrator.engine.spec`), step references, templates
and expressions (names and syntax), regular expressions, and the hosts ``call`` steps may reach.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from orchestrator import yamldoc
from orchestrator.engine import spec
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.expressions import check_expression, check_template
from orchestrator.engine.steps.markers import (
    Check,
    Evaluated,
    Expression,
    FlowRef,
    Loc,
    Marked,
    Marker,
    Regex,
    Target,
    leaves,
    marked,
)
from orchestrator.engine.steps.markers import problems as part_problems
from orchestrator.engine.steps.registry import STEP_TYPES
from orchestrator.engine.variables import resolve as resolve_vars
from orchestrator.engine.variables import substitute as substitute_vars
from orchestrator.errors import FlowError
from orchestrator.policy.loader import parse_policy
from orchestrator.policy.spec import Policy
from orchestrator.yamldoc import parse_yaml

__all__ = [
    "Source",
    "build_catalogue",
    "check_flow",
    "line_of",
    "parse_flow",
    "parse_yaml",
    "where",
]

# Names pydantic puts in error locations that are not keys of the file: the tag of a
# discriminated union (right after a step's index, or after `trigger`).
_STEP_TAGS = frozenset(STEP_TYPES)
_TRIGGER_TAGS = frozenset({"message", "event", "schedule", "stage", "status", "timer"})

Source = tuple[Path, str]
"""A file's path (for messages only: nothing here reads it) and its text."""


def _tag(previous: Any, part: Any) -> bool:
    return (isinstance(previous, int) and part in _STEP_TAGS) or (
        previous == "trigger" and part in _TRIGGER_TAGS
    )


def where(loc: tuple[Any, ...]) -> str:
    """``loc`` as an error's dotted prefix, without pydantic's union tags."""
    return yamldoc.where(loc, _tag)


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML node at ``loc``, or of its nearest existing parent."""
    return yamldoc.line_of(node, loc, _tag)


def build_catalogue(
    flows: Sequence[Source],
    allowed_hosts: Iterable[str] = (),
    variables: Mapping[str, str] | None = None,
    *,
    vars_file: Source | None = None,
    policy_file: Source | None = None,
) -> Catalogue:
    """Validate every flow (the texts of a folder's flow files) and the policy; raise
    :class:`FlowError` listing every problem as ``file:line: reason``. ``variables`` are
    operations' values for the variables ``vars_file`` declares, plus built-ins
    (:mod:`orchestrator.engine.variables`). Reading the files is
    :func:`orchestrator.flowfiles.load_flows`' job."""
    hosts = frozenset(h.lower() for h in allowed_hosts)
    values = resolve_vars(vars_file, variables)
    parsed: list[spec.Flow] = []
    problems: list[str] = []
    seen: dict[str, tuple[Path, yaml.Node | None]] = {}
    for path, text in flows:
        try:
            flow, node = parse_flow(path, text, hosts, values)
        except FlowError as exc:
            problems.extend(exc.problems)
            continue
        if flow.id in seen:
            line = line_of(node, ("id",))
            first = seen[flow.id][0].name
            problems.append(f"{path}:{line}: flow id {flow.id!r} is already defined in {first}")
            continue
        seen[flow.id] = (path, node)
        parsed.append(flow)
    problems.extend(_check_subflows(parsed, seen))
    policy = Policy()
    if policy_file is not None:
        try:
            policy = parse_policy(*policy_file)
        except FlowError as exc:
            problems.extend(exc.problems)
    if problems:
        raise FlowError(problems)
    ordered = tuple(sorted(parsed, key=lambda f: (-f.priority, f.id)))
    return Catalogue(ordered, {}, hosts, policy)


def parse_flow(
    path: Path,
    text: str,
    allowed_hosts: frozenset[str] = frozenset(),
    values: Mapping[str, str] | None = None,
) -> tuple[spec.Flow, yaml.Node | None]:
    """One flow file's text, validated (without the checks that need the other flows), and its
    node tree; ``values`` are the resolved variables (the built-ins alone, by default)."""
    node, doc = yamldoc.compose(path, text)
    if not isinstance(doc, dict):
        raise FlowError([f"{path}:1: a flow file holds one mapping"])
    doc, unknown = substitute_vars(doc, values if values is not None else resolve_vars(None))
    if unknown:
        raise FlowError([f"{path}:{line_of(node, loc)}: {where(loc)}{why}" for loc, why in unknown])
    try:
        flow = spec.Flow.model_validate(doc)
    except ValidationError as exc:
        raise FlowError(
            [f"{path}:{line_of(node, e['loc'])}: {where(e['loc'])}{e['msg']}" for e in useful(exc)]
        ) from None
    problems = [
        f"{path}:{line_of(node, loc)}: {where(loc)}{why}"
        for loc, why in check_flow(flow, allowed_hosts)
    ]
    if problems:
        raise FlowError(problems)
    return flow, node


def check_flow(flow: spec.Flow, allowed_hosts: frozenset[str]) -> list[tuple[Loc, str]]:
    """Every problem in one flow beyond its schema, with the location of each.

    What to check comes from the field markers (:mod:`orchestrator.engine.steps.markers`) and
    each part's own ``problems``, so no step type is named here."""
    problems: list[tuple[Loc, str]] = []
    ids = [s.id for s in flow.steps]
    for i, step_id in enumerate(ids):
        if step_id in ids[:i]:
            problems.append((("steps", i, "id"), f"duplicate step id {step_id!r}"))
    known = set(ids)
    found = list(marked(flow))
    for loc, target in _references(flow):
        if target not in known:
            problems.append((loc, f"no step {target!r} in this flow"))
    for kind in (Evaluated, Expression, Regex):  # templates, then expressions, then patterns
        for loc, marker, value in found:
            if isinstance(marker, kind):
                problems.extend(
                    (at, why) for at, source in leaves(loc, value) if (why := _why(marker, source))
                )
    check = Check(allowed_hosts, flow.default_language)
    problems.extend(part_problems(flow, check))
    problems.extend(_default_language(flow, found))
    return problems


def _references(flow: spec.Flow) -> Iterator[tuple[Loc, str]]:
    """Every step id the flow refers to: in its steps, then in its migrations."""
    for i, step in enumerate(flow.steps):
        yield from _targets(marked(step, ("steps", i)))
    for m, migration in enumerate(flow.migrate):
        yield from _targets(marked(migration, ("migrate", m)))


def _targets(found: Iterable[Marked]) -> Iterator[tuple[Loc, str]]:
    for loc, marker, value in found:
        if isinstance(marker, Target):
            yield from leaves(loc, value)


def _why(marker: Marker, source: str) -> str | None:
    """What is wrong with one marked string, if anything."""
    match marker:
        case Evaluated():
            return check_template(source, ())
        case Expression():
            return check_expression(source, marker.extra)
        case Regex():
            return _regex(source)
        case _:
            return None


def _regex(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"regex does not compile: {exc}"
    return None


def _default_language(flow: spec.Flow, found: Iterable[Marked]) -> Iterator[tuple[Loc, str]]:
    """A localized text given per language must have the flow's default language."""
    for loc, marker, value in found:
        if (
            isinstance(marker, Evaluated)
            and marker.localized
            and isinstance(value, Mapping)
            and flow.default_language not in value
        ):
            yield loc, f"no text for the flow's default_language {flow.default_language!r}"


def _check_subflows(
    flows: list[spec.Flow], seen: Mapping[str, tuple[Path, yaml.Node | None]]
) -> Iterator[str]:
    ids = {f.id for f in flows}
    for flow in flows:
        path, node = seen[flow.id]
        for loc, marker, value in marked(flow):
            if isinstance(marker, FlowRef) and value not in ids:
                yield f"{path}:{line_of(node, loc)}: {where(loc)}no flow {value!r} in this folder"


def useful(exc: ValidationError) -> list[Any]:
    """The errors worth showing: a list that is "too short" only because its invalid items were
    dropped (``steps`` when every step has an error) says nothing the items' errors do not."""
    errors = exc.errors()

    def inside(outer: tuple[Any, ...], e: Any) -> bool:
        return len(e["loc"]) > len(outer) and tuple(e["loc"][: len(outer)]) == outer

    return [
        e
        for e in errors
        if e["type"] != "too_short" or not any(inside(tuple(e["loc"]), o) for o in errors)
    ]
