"""Flow variables: named values operations set per deployment, declared in ``flows/vars.yaml``.

```yaml
vars:
  order_api:
    description: Base URL of the order system's API
    kind: url                                   # url (http or https, with a host) or text
    default: "{{ sandbox_url }}/_sandbox/api"   # optional; may use the built-in sandbox_url
```

A flow writes ``{{ vars.order_api }}`` in any string; it is replaced when the flows load, so the
value is a constant of the flow (a ``call`` URL built from it is allow-listed like a literal
one). Values come from the ``values`` given to :func:`resolve` (``CONTINUUM_FLOWS_VARS``), else
the default. Every problem is an error at load, as ``file:line: reason``: an unknown key, a
variable without a value, a value of the wrong kind, a value set for an undeclared variable, and
a reference to an undeclared one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator import yamldoc
from orchestrator.errors import FlowError
from orchestrator.yamldoc import compose

VARS_FILE = "vars.yaml"
NAME = r"[a-z][a-z0-9_]*"
REFERENCE = re.compile(r"\{\{-?\s*vars\.(" + NAME + r")\s*-?\}\}")
BUILTINS = {"sandbox_url": "http://127.0.0.1:8090"}
"""Values a default may use, given by the host (``sandbox_url`` follows the sandbox's address);
these are the values when the host gives none (tools and tests)."""
_ANY_USE = re.compile(r"\bvars\b")


class VarSpec(BaseModel):
    """One declared variable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    kind: Literal["url", "text"] = "text"
    default: str | None = None


class VarsFile(BaseModel):
    """``flows/vars.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vars: dict[str, VarSpec] = Field(default_factory=dict)


def resolve(
    source: tuple[Path, str] | None, given: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every variable ``source`` (the path and text of ``vars.yaml``, if there is one) declares,
    with its value; raise :class:`FlowError` listing every problem.

    ``given`` holds operations' values and the host's built-ins (:data:`BUILTINS` names them).
    """
    given = given or {}
    values = {k: v for k, v in given.items() if k not in BUILTINS}
    builtins = {k: v for k, v in given.items() if k in BUILTINS}
    path = source[0] if source is not None else Path(VARS_FILE)
    declared: dict[str, VarSpec] = {}
    node: yaml.Node | None = None
    if source is not None:
        node, doc = compose(*source)
        doc = doc or {}
        try:
            declared = VarsFile.model_validate(doc).vars
        except ValidationError as exc:
            raise FlowError(
                [
                    f"{path}:{yamldoc.line_of(node, e['loc'])}: {yamldoc.where(e['loc'])}{e['msg']}"
                    for e in exc.errors()
                ]
            ) from None
    filled = {**BUILTINS, **builtins}
    problems: list[str] = []
    out: dict[str, str] = {}
    for name, var in declared.items():
        line = yamldoc.line_of(node, ("vars", name))
        if not re.fullmatch(NAME, name):
            problems.append(f"{path}:{line}: vars.{name}: a name is lower case, digits and _")
            continue
        value = values.get(name)
        origin = f"CONTINUUM_FLOWS_VARS {name}"
        if value is None and var.default is not None:
            value = _fill(var.default, filled)
            origin = (
                f"{path}:{yamldoc.line_of(node, ('vars', name, 'default'))}: vars.{name}.default"
            )
        if value is None:
            problems.append(
                f"{path}:{line}: vars.{name}: no value: set it in CONTINUUM_FLOWS_VARS or give "
                "a default"
            )
            continue
        why = _invalid(var, value)
        if why:
            problems.append(f"{origin}: {why}")
            continue
        out[name] = value
    for name in sorted(set(values) - set(declared)):
        known = ", ".join(sorted(declared)) or "none"
        problems.append(
            f"CONTINUUM_FLOWS_VARS: {name!r} is not declared in {path} (declared: {known})"
        )
    if problems:
        raise FlowError(problems)
    return out


def substitute(
    doc: Any, values: Mapping[str, str]
) -> tuple[Any, list[tuple[tuple[Any, ...], str]]]:
    """``doc`` with every ``{{ vars.name }}`` replaced, and the problems (location, reason)."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    return _walk(doc, (), values, problems), problems


def _walk(value: Any, loc: tuple[Any, ...], values: Mapping[str, str], problems: list[Any]) -> Any:
    if isinstance(value, str):
        return _replace(value, loc, values, problems)
    if isinstance(value, dict):
        return {k: _walk(v, (*loc, k), values, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*loc, i), values, problems) for i, v in enumerate(value)]
    return value


def _replace(
    text: str, loc: tuple[Any, ...], values: Mapping[str, str], problems: list[Any]
) -> str:
    if "vars" not in text:
        return text
    for name in REFERENCE.findall(text):
        if name not in values:
            known = ", ".join(sorted(values)) or f"none (declare them in {VARS_FILE})"
            problems.append((loc, f"unknown variable vars.{name}; declared: {known}"))
    replaced = REFERENCE.sub(lambda m: values.get(m.group(1), m.group(0)), text)
    leftover = REFERENCE.sub("", text)
    if _ANY_USE.search(_strip_literals(leftover)) and "{" in leftover:
        problems.append(
            (loc, "vars are replaced when flows load: write {{ vars.name }} on its own")
        )
    return replaced


def _strip_literals(text: str) -> str:
    """Template text without quoted strings (a flow may say the word 'vars' in a message)."""
    inside = re.findall(r"\{\{.*?\}\}|\{%.*?%\}", text, flags=re.S)
    return re.sub(r"'[^']*'|\"[^\"]*\"", "", " ".join(inside))


def _fill(default: str, given: Mapping[str, str]) -> str:
    return re.sub(
        r"\{\{\s*(" + NAME + r")\s*\}\}", lambda m: given.get(m.group(1), m.group(0)), default
    )


def _invalid(var: VarSpec, value: str) -> str | None:
    if any(mark in value for mark in ("{{", "{%", "{#")):
        return f"{value!r}: a value is literal (no template)"
    if var.kind == "url":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return f"{value!r} is not an http(s) URL with a host"
    return None
