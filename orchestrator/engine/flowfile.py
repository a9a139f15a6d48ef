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
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from orchestrator.engine import spec
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.expressions import check_expression, check_template
from orchestrator.engine.variables import resolve as resolve_vars
from orchestrator.engine.variables import substitute as substitute_vars
from orchestrator.errors import FlowError

Loc = tuple[str | int, ...]
NOT_FLOWS = frozenset({"policy.yaml", "vars.yaml"})
# Names pydantic puts in error locations that are not keys of the file: the tag of a
# discriminated union (right after a step's index, or after `trigger`) and helper names.
_STEP_TAGS = frozenset(
    {"send", "ask", "switch", "split", "set", "wait", "call", "route", "emit", "subflow", "end"}
)
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
    """Every problem in one flow beyond its schema, with the location of each."""
    problems: list[tuple[Loc, str]] = []
    ids = [s.id for s in flow.steps]
    for i, step_id in enumerate(ids):
        if step_id in ids[:i]:
            problems.append((("steps", i, "id"), f"duplicate step id {step_id!r}"))
    known = set(ids)
    for loc, target in _references(flow):
        if target not in known:
            problems.append((loc, f"no step {target!r} in this flow"))
    for loc, source, extra in _templates(flow):
        why = check_template(source, extra)
        if why:
            problems.append((loc, why))
    for loc, source, extra in _expressions(flow):
        why = check_expression(source, extra)
        if why:
            problems.append((loc, why))
    problems.extend(_patterns(flow))
    problems.extend(_steps(flow, allowed_hosts))
    return problems


def _references(flow: spec.Flow) -> Iterator[tuple[Loc, str]]:  # noqa: C901 - one arm a type
    for i, step in enumerate(flow.steps):
        base: Loc = ("steps", i)
        if step.next:
            yield (*base, "next"), step.next
        match step:
            case spec.AskStep():
                for name, target in step.branches.items():
                    yield (*base, "branches", name), target
            case spec.SwitchStep():
                for j, case in enumerate(step.cases):
                    yield (*base, "cases", j, "next"), case.next
                if step.default:
                    yield (*base, "default"), step.default
            case spec.SplitStep():
                for name, target in step.branches.items():
                    yield (*base, "branches", name), target
            case spec.WaitStep() if step.timeout_next:
                yield (*base, "timeout_next"), step.timeout_next
            case spec.CallStep():
                if step.on_error:
                    yield (*base, "on_error"), step.on_error
                if step.on_timeout:
                    yield (*base, "on_timeout"), step.on_timeout
            case _:
                pass
    for m, migration in enumerate(flow.migrate):
        for old, new in migration.steps.items():
            yield ("migrate", m, "steps", old), new


def _templates(flow: spec.Flow) -> Iterator[tuple[Loc, str, tuple[str, ...]]]:
    for i, step in enumerate(flow.steps):
        base: Loc = ("steps", i)
        match step:
            case spec.SendStep() | spec.AskStep():
                for loc, text in _message_texts(step):
                    for lang, one in ({"": text} if isinstance(text, str) else text).items():
                        yield (*base, *loc, *((lang,) if lang else ())), one, ()
            case spec.SetStep():
                for name, value in step.fields.items():
                    yield (*base, "fields", name), value, ()
            case spec.EmitStep():
                for name, value in step.data.items():
                    yield (*base, "data", name), value, ()
            case spec.CallStep():
                yield (*base, "url"), step.url, ()
                for name, value in {**step.headers, **(step.body or {})}.items():
                    yield (*base, "headers" if name in step.headers else "body", name), value, ()
            case spec.RouteStep() if step.note:
                yield (*base, "note"), step.note, ()
            case _:
                pass


def _message_texts(step: spec.SendStep | spec.AskStep) -> Iterator[tuple[Loc, spec.Text]]:
    """Every template of a message step, with where it is in the step."""
    yield ("template",), step.template
    for name in ("subject", "html"):
        value = getattr(step, name)
        if value is not None:
            yield (name,), value
    for i, button in enumerate(step.buttons):
        yield ("buttons", i, "title"), button.title
    if step.menu is not None:
        yield ("menu", "button"), step.menu.button
        for j, section in enumerate(step.menu.sections):
            if section.title is not None:
                yield ("menu", "sections", j, "title"), section.title
            for k, row in enumerate(section.rows):
                yield ("menu", "sections", j, "rows", k, "title"), row.title
                if row.description is not None:
                    yield ("menu", "sections", j, "rows", k, "description"), row.description
    if step.whatsapp_template is not None:
        for i, param in enumerate(step.whatsapp_template.params):
            yield ("whatsapp_template", "params", i), param


def _expressions(flow: spec.Flow) -> Iterator[tuple[Loc, str, tuple[str, ...]]]:
    trigger = flow.trigger
    if isinstance(trigger, spec.MessageTrigger | spec.EventTrigger) and trigger.when:
        yield ("trigger", "when"), trigger.when, ()
    if isinstance(trigger, spec.ScheduleTrigger):
        yield ("trigger", "audience"), trigger.audience, ()
    for j, expression in enumerate(flow.exit_when):
        yield ("exit_when", j), expression, ()
    for i, step in enumerate(flow.steps):
        if isinstance(step, spec.SwitchStep):
            for j, case in enumerate(step.cases):
                yield ("steps", i, "cases", j, "when"), case.when, ()
        if isinstance(step, spec.AskStep):
            for j, category in enumerate(step.categories):
                if category.test == "expression":
                    source = str(category.args[0]) if category.args else ""
                    yield ("steps", i, "categories", j, "args"), source, ("answer",)


def _patterns(flow: spec.Flow) -> Iterator[tuple[Loc, str]]:
    trigger = flow.trigger
    if isinstance(trigger, spec.MessageTrigger) and trigger.pattern:
        yield from _regex(("trigger", "pattern"), trigger.pattern)
    for i, step in enumerate(flow.steps):
        if not isinstance(step, spec.AskStep):
            continue
        for j, category in enumerate(step.categories):
            loc: Loc = ("steps", i, "categories", j, "args")
            if category.test in ("regex", "expression") and len(category.args) != 1:
                yield loc, f"{category.test} takes exactly one argument"
            elif category.test == "regex":
                yield from _regex(loc, str(category.args[0]))
            elif category.test == "has_number_between":
                if len(category.args) != 2 or not all(
                    isinstance(a, int | float) for a in category.args
                ):
                    yield loc, "has_number_between takes two numbers: [low, high]"
            elif category.test == "has_any_word" and not category.args:
                yield loc, "has_any_word needs at least one word"


def _regex(loc: Loc, pattern: str) -> Iterator[tuple[Loc, str]]:
    try:
        re.compile(pattern)
    except re.error as exc:
        yield loc, f"regex does not compile: {exc}"


def _steps(flow: spec.Flow, allowed_hosts: frozenset[str]) -> Iterator[tuple[Loc, str]]:
    for i, step in enumerate(flow.steps):
        base: Loc = ("steps", i)
        if isinstance(step, spec.AskStep):
            names = {c.name for c in step.categories}
            for branch in step.branches:
                if branch not in names | {"other", "timeout"}:
                    yield (*base, "branches", branch), f"no category {branch!r} in this ask"
        if isinstance(step, spec.CallStep):
            parts = urlsplit(step.url)
            host = (parts.netloc or "").lower()
            if parts.scheme not in ("http", "https") or not host or "{" in host:
                yield (*base, "url"), "the URL's scheme and host must be literal http(s)"
            elif host not in allowed_hosts:
                allowed = ", ".join(sorted(allowed_hosts)) or "none"
                yield (
                    (*base, "url"),
                    (
                        f"host {host!r} is not allow-listed "
                        f"(CONTINUUM_FLOWS_ALLOWED_HOSTS: {allowed})"
                    ),
                )
        if isinstance(step, spec.SendStep | spec.AskStep):
            for loc, text in _message_texts(step):
                if isinstance(text, dict) and flow.default_language not in text:
                    yield (
                        (*base, *loc),
                        f"no text for the flow's default_language {flow.default_language!r}",
                    )


def _check_subflows(flows: list[spec.Flow], paths: dict[str, Path]) -> Iterator[str]:
    ids = {f.id for f in flows}
    for flow in flows:
        for i, step in enumerate(flow.steps):
            if isinstance(step, spec.SubflowStep) and step.flow not in ids:
                path = paths[flow.id]
                line = line_of(_compose(path), ("steps", i, "flow"))
                yield f"{path}:{line}: steps.{i}.flow: no flow {step.flow!r} in this folder"


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
