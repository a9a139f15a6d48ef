"""The contact policy's text (``policy.yaml``) parsed, with errors as ``file:line: reason``, like
flow files. PURE: reading the file is :mod:`orchestrator.flowfiles`' job."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from orchestrator.errors import FlowError
from orchestrator.policy.spec import Policy
from orchestrator.yamldoc import compose, line_of, where

POLICY_FILE = "policy.yaml"
"""The policy's file in the flows folder, unless ``CONTINUUM_POLICY_FILE`` names another."""


def parse_policy(path: Path, text: str) -> Policy:
    """The policy in ``text`` (read from ``path``, named in errors); an empty file is the
    defaults."""
    node, doc = compose(path, text)
    doc = doc or {}
    if not isinstance(doc, dict):
        raise FlowError([f"{path}:1: the policy file holds one mapping"])
    try:
        return Policy.model_validate(doc)
    except ValidationError as exc:
        raise FlowError(
            [f"{path}:{line_of(node, e['loc'])}: {where(e['loc'])}{e['msg']}" for e in exc.errors()]
        ) from None
