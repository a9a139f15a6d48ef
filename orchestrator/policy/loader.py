"""Loading ``policy.yaml`` with errors as ``file:line: reason``, like flow files."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from orchestrator.engine.flowfile import FlowLoader, line_of, parse_yaml, where
from orchestrator.errors import FlowError
from orchestrator.policy.spec import Policy

POLICY_FILE = "policy.yaml"


def load_policy(folder: Path) -> Policy:
    """The policy in ``folder/policy.yaml``, or the defaults when there is none."""
    path = folder / POLICY_FILE
    if not path.is_file():
        return Policy()
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=FlowLoader)
        doc = parse_yaml(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise FlowError([f"{path}:{mark.line + 1 if mark else 1}: invalid YAML: {exc}"]) from None
    if not isinstance(doc, dict):
        raise FlowError([f"{path}:1: the policy file holds one mapping"])
    try:
        return Policy.model_validate(doc)
    except ValidationError as exc:
        raise FlowError(
            [f"{path}:{line_of(node, e['loc'])}: {where(e['loc'])}{e['msg']}" for e in exc.errors()]
        ) from None
