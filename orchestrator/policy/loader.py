"""Loading ``policy.yaml`` with errors as ``file:line: reason``, like flow files."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from orchestrator.engine.flowfile import line_of, read_yaml, where
from orchestrator.errors import FlowError
from orchestrator.policy.spec import Policy

POLICY_FILE = "policy.yaml"


def load_policy(folder: Path) -> Policy:
    """The policy in ``folder/policy.yaml``, or the defaults when there is none."""
    path = folder / POLICY_FILE
    if not path.is_file():
        return Policy()
    node, doc = read_yaml(path)
    doc = doc or {}
    if not isinstance(doc, dict):
        raise FlowError([f"{path}:1: the policy file holds one mapping"])
    try:
        return Policy.model_validate(doc)
    except ValidationError as exc:
        raise FlowError(
            [f"{path}:{line_of(node, e['loc'])}: {where(e['loc'])}{e['msg']}" for e in exc.errors()]
        ) from None
