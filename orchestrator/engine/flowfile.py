"""Flow files: YAML in, validated :class:`Flow` out, with errors as ``file:line: reason``.

A flow, in YAML::

    spec_version: 1
    id: help
    version: 3
    description: Carriers require a HELP reply on every number.
    stage: support              # lifecycle stage of the touchpoint
    owner: care-team            # the team that owns it
    channels: [sms, whatsapp, email, webchat]
    priority: 100               # the highest-priority matching flow wins
    trigger:
      keywords: [HELP, INFO]    # first word, any case; or `regex: "(?i)\\border\\b"`
    steps:
      - id: reply
        type: send
        purpose: service
        template: "Continuum demo: reply STOP to opt out. Help: https://example.com/help"

Every flow in a folder is loaded and validated at start; one bad file rejects the set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import TemplateSyntaxError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from orchestrator.engine.templates import make_environment
from orchestrator.errors import FlowError

SPEC_VERSIONS = (1,)
STAGES = ("awareness", "consideration", "purchase", "onboarding", "support", "renewal", "win-back")
ALL_CHANNELS = ("sms", "whatsapp", "email", "webchat")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Strict):
    """When a flow starts: a first-word keyword, or a regular expression over the text."""

    keywords: tuple[str, ...] = ()
    regex: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        if bool(self.keywords) == bool(self.regex):
            raise ValueError("a trigger needs exactly one of `keywords` or `regex`")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from None
        return self


class SendStep(_Strict):
    """Send a templated message on the channel the customer wrote on."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    type: Literal["send"]
    template: str = Field(min_length=1)
    purpose: Literal["transactional", "service", "marketing"] = "service"


class Flow(_Strict):
    """One customer journey."""

    spec_version: int
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    version: int = Field(ge=1)
    description: str = ""
    stage: Literal[STAGES] = "support"  # type: ignore[valid-type]
    owner: str = "operations"
    channels: tuple[Literal[ALL_CHANNELS], ...] = ALL_CHANNELS  # type: ignore[valid-type]
    priority: int = 0
    trigger: Trigger
    steps: tuple[SendStep, ...] = Field(min_length=1)

    @field_validator("spec_version")
    @classmethod
    def _supported(cls, value: int) -> int:
        if value not in SPEC_VERSIONS:
            raise ValueError(f"spec_version {value} is not supported {SPEC_VERSIONS}")
        return value

    def matches(self, channel: str, text: str) -> bool:
        """Whether an inbound ``text`` on ``channel`` starts this flow."""
        if channel not in self.channels:
            return False
        if self.trigger.keywords:
            first = first_word(text)
            return first in {k.casefold() for k in self.trigger.keywords}
        return re.search(self.trigger.regex or "", text) is not None


def first_word(text: str) -> str:
    """The first word of a message, case-folded, without surrounding punctuation."""
    words = text.split(maxsplit=1)
    return words[0].strip(".,!?;:'\"()[]").casefold() if words else ""


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The validated set of flows in force, highest priority first."""

    flows: tuple[Flow, ...]

    def match(self, channel: str, text: str) -> Flow | None:
        """The flow an inbound message starts, if any."""
        return next((f for f in self.flows if f.matches(channel, text)), None)

    def get(self, flow_id: str) -> Flow | None:
        """A flow by id."""
        return next((f for f in self.flows if f.id == flow_id), None)


def load_flows(folder: Path) -> Catalogue:
    """Load and validate every ``*.yaml`` flow in ``folder``; raise :class:`FlowError` listing
    every problem as ``file:line: reason``."""
    if not folder.is_dir():
        raise FlowError([f"{folder}: flows folder does not exist"])
    flows: list[Flow] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "policy.yaml":
            continue
        try:
            flow = load_flow(path)
        except FlowError as exc:
            problems.extend(exc.problems)
            continue
        if flow.id in seen:
            line = _line_of(yaml.compose(path.read_text(encoding="utf-8")), ("id",))
            problems.append(
                f"{path}:{line}: flow id {flow.id!r} is already defined in {seen[flow.id].name}"
            )
            continue
        seen[flow.id] = path
        flows.append(flow)
    if problems:
        raise FlowError(problems)
    return Catalogue(tuple(sorted(flows, key=lambda f: (-f.priority, f.id))))


def load_flow(path: Path) -> Flow:
    """Load one flow file."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise FlowError([f"{path}:{line}: invalid YAML: {exc}"]) from None
    if not isinstance(doc, dict):
        raise FlowError([f"{path}:1: a flow file holds one mapping"])
    try:
        flow = Flow.model_validate(doc)
    except ValidationError as exc:
        raise FlowError(
            [
                f"{path}:{_line_of(node, e['loc'])}: {_where(e['loc'])}{e['msg']}"
                for e in exc.errors()
            ]
        ) from None
    problems = _check_step_ids(flow, path, node) + _check_templates(flow, path, node)
    if problems:
        raise FlowError(problems)
    return flow


def _check_step_ids(flow: Flow, path: Path, node: yaml.Node | None) -> list[str]:
    seen: set[str] = set()
    problems = []
    for i, step in enumerate(flow.steps):
        if step.id in seen:
            line = _line_of(node, ("steps", i, "id"))
            problems.append(f"{path}:{line}: steps.{i}.id: duplicate step id {step.id!r}")
        seen.add(step.id)
    return problems


def _check_templates(flow: Flow, path: Path, node: yaml.Node | None) -> list[str]:
    env = make_environment()
    problems = []
    for i, step in enumerate(flow.steps):
        try:
            env.parse(step.template)
        except TemplateSyntaxError as exc:
            line = _line_of(node, ("steps", i, "template"))
            problems.append(f"{path}:{line}: steps.{i}.template: {exc.message}")
    return problems


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) + ": " if loc else ""


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML node at ``loc``, or of its nearest existing parent."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
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
