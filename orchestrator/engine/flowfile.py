"""Flow files: YAML in, a validated :class:`Catalogue` out, with errors as ``file:line: reason``.

Validation happens at load time, for every flow, so that nothing is found broken only when a
customer reaches it: the schema (:mod:`orchestrator.engine.spec`), step references, templates
and expressions (names and syntax), regular expressions, and the hosts ``call`` steps may reach.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

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

NOT_FLOWS = frozenset({"policy.yaml", "vars.yaml"})
# Names pydantic puts in error locations that are not keys of the file: the tag of a
# discriminated union (right after a step's index, or after `trigger`) and helper names.
_STEP_TAGS = frozenset(STEP_TYPES)
_TRIGGER_TAGS = frozenset({"message", "event", "schedule", "stage", "status", "timer"})
_NOISE = frozenset({"[key]", "function-after", "function-before", "str", "dict[str,str]"})


def _clean(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    kept: list[Any] = []
    for part in loc:
        previous = kept[-1] if kept else None
        if (
            part in _NOISE
            or (isinstance(previous, int) and part in _STEP_TAGS)
            or (previous == "trigger" and part in _TRIGGER_TAGS)
        ):
            continue
        kept.append(part)
    return tuple(kept)


class FlowLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. PyYAML's YAML 1.1 default turns the category names
    ``yes``/``no`` (and ``on``/``off``) into booleans, which no flow author means."""


FlowLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
FlowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_yaml(text: str) -> Any:
    """Parse flow (or flow test) YAML with YAML 1.2 booleans."""
    return yaml.load(text, Loader=FlowLoader)  # noqa: S506 - FlowLoader is a SafeLoader


def read_yaml(path: Path) -> tuple[yaml.Node | None, Any]:
    """``path``'s node tree (for ``file:line`` in errors) and its parsed document; invalid YAML
    raises :class:`FlowError` naming the line. Shared by flows, ``vars.yaml`` and the policy."""
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.compose(text, Loader=FlowLoader), parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise FlowError([f"{path}:{line}: invalid YAML: {exc}"]) from None


def load_flows(
    folder: Path, allowed_hosts: Iterable[str] = (), variables: Mapping[str, str] | None = None
) -> Catalogue:
    """Load and validate every ``*.yaml`` flow in ``folder``; raise :class:`FlowError` listing
    every problem as ``file:line: reason``. ``variables`` are operations' values for the
    variables ``vars.yaml`` declares, plus built-ins (:mod:`orchestrator.engine.variables`)."""
    if not folder.is_dir():
        raise FlowError([f"{folder}: flows folder does not exist"])
    hosts = frozenset(h.lower() for h in allowed_hosts)
    values = resolve_vars(folder, variables)
    flows: list[spec.Flow] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name in NOT_FLOWS:
            continue
        try:
            flow = load_flow(path, hosts, values)
        except FlowError as exc:
            problems.extend(exc.problems)
            continue
        if flow.id in seen:
            line = line_of(_compose(path), ("id",))
            problems.append(
                f"{path}:{line}: flow id {flow.id!r} is already defined in {seen[flow.id].name}"
            )
            continue
        seen[flow.id] = path
        flows.append(flow)
    problems.extend(_check_subflows(flows, seen))
    from orchestrator.policy.loader import load_policy  # the policy loader reuses this module

    try:
        policy = load_policy(folder)
    except FlowError as exc:
        problems.extend(exc.problems)
    if problems:
        raise FlowError(problems)
    ordered = tuple(sorted(flows, key=lambda f: (-f.priority, f.id)))
    return Catalogue(ordered, {}, hosts, policy)


def load_flow(
    path: Path, allowed_hosts: frozenset[str] = frozenset(), values: Mapping[str, str] | None = None
) -> spec.Flow:
    """Load one flow file (without the checks that need the other flows); ``values`` are the
    resolved variables (by default, those of the file's folder with no operations' values)."""
    if values is None:
        values = resolve_vars(path.parent)
    node, doc = read_yaml(path)
    if not isinstance(doc, dict):
        raise FlowError([f"{path}:1: a flow file holds one mapping"])
    doc, unknown = substitute_vars(doc, values)
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
    return flow


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


def _check_subflows(flows: list[spec.Flow], paths: dict[str, Path]) -> Iterator[str]:
    ids = {f.id for f in flows}
    for flow in flows:
        for loc, marker, value in marked(flow):
            if isinstance(marker, FlowRef) and value not in ids:
                path = paths[flow.id]
                line = line_of(_compose(path), loc)
                yield f"{path}:{line}: {where(loc)}no flow {value!r} in this folder"


def _compose(path: Path) -> yaml.Node | None:
    return yaml.compose(path.read_text(encoding="utf-8"), Loader=FlowLoader)


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


def where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in _clean(loc)]
    return ".".join(parts) + ": " if parts else ""


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML node at ``loc``, or of its nearest existing parent."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in _clean(loc):
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            child = node.value[part]
        else:
            child = None
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line
