"""YAML documents with their line numbers, for errors as ``file:line: reason``. PURE: text in.

Shared by the flow files, ``vars.yaml`` and the contact policy; reading the files is
:mod:`orchestrator.flowfiles`' job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import FlowError

Skip = Callable[[Any, Any], bool]
"""Whether a part of an error location is not a key of the file, given the part before it."""

NOISE = frozenset({"[key]", "function-after", "function-before", "str", "dict[str,str]"})
"""Names pydantic puts in error locations that are not keys of the file."""


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
    """Parse flow (or flow test, or policy) YAML with YAML 1.2 booleans."""
    return yaml.load(text, Loader=FlowLoader)  # noqa: S506 - FlowLoader is a SafeLoader


def compose(path: Path, text: str) -> tuple[yaml.Node | None, Any]:
    """``text``'s node tree (for ``file:line`` in errors) and its parsed document; invalid YAML
    raises :class:`FlowError` naming ``path`` (the file the text came from) and the line."""
    try:
        return yaml.compose(text, Loader=FlowLoader), parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise FlowError([f"{path}:{line}: invalid YAML: {exc}"]) from None


def clean(loc: tuple[Any, ...], skip: Skip | None = None) -> tuple[Any, ...]:
    """``loc`` without the parts that are not keys of the file."""
    kept: list[Any] = []
    for part in loc:
        previous = kept[-1] if kept else None
        if part in NOISE or (skip is not None and skip(previous, part)):
            continue
        kept.append(part)
    return tuple(kept)


def where(loc: tuple[Any, ...], skip: Skip | None = None) -> str:
    """``loc`` as the dotted prefix of an error message (``steps.2.template: ``)."""
    parts = [str(p) for p in clean(loc, skip)]
    return ".".join(parts) + ": " if parts else ""


def line_of(node: yaml.Node | None, loc: tuple[Any, ...], skip: Skip | None = None) -> int:
    """The 1-based line of the YAML node at ``loc``, or of its nearest existing parent."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in clean(loc, skip):
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
