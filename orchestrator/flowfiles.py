"""Reading a flows folder: the flow files, ``vars.yaml`` and the contact policy, handed as text
to the pure parsers (:mod:`orchestrator.engine.flowfile`, :mod:`orchestrator.policy.loader`).

Example:
    >>> catalogue = load_flows(Path("flows"), allowed_hosts=("orders.internal",))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from orchestrator.engine import spec
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.flowfile import Source, build_catalogue, parse_flow
from orchestrator.engine.variables import VARS_FILE
from orchestrator.engine.variables import resolve as resolve_vars
from orchestrator.errors import FlowError
from orchestrator.policy.loader import POLICY_FILE, parse_policy
from orchestrator.policy.spec import Policy

__all__ = [
    "NOT_FLOWS",
    "POLICY_FILE",
    "VARS_FILE",
    "load_flow",
    "load_flows",
    "load_policy",
    "policy_path",
]

NOT_FLOWS = frozenset({POLICY_FILE, VARS_FILE})
"""The files of a flows folder (by default) that are not flows."""


def policy_path(folder: Path, policy_file: Path | None = None) -> Path:
    """The policy's file: ``policy_file`` (``CONTINUUM_POLICY_FILE``) or the folder's own."""
    return policy_file if policy_file is not None else folder / POLICY_FILE


def load_flows(
    folder: Path,
    allowed_hosts: Iterable[str] = (),
    variables: Mapping[str, str] | None = None,
    policy_file: Path | None = None,
) -> Catalogue:
    """Load and validate every ``*.yaml`` flow in ``folder`` and the policy; raise
    :class:`FlowError` listing every problem as ``file:line: reason``. Every ``*.yaml`` file is
    a flow but ``vars.yaml`` and the policy's file (when it is in the folder)."""
    if not folder.is_dir():
        raise FlowError([f"{folder}: flows folder does not exist"])
    policy = policy_path(folder, policy_file)
    not_flows = {(folder / VARS_FILE).resolve(), policy.resolve()}
    flows = [_read(p) for p in sorted(folder.glob("*.yaml")) if p.resolve() not in not_flows]
    return build_catalogue(
        flows,
        allowed_hosts,
        variables,
        vars_file=_read_if_there(folder / VARS_FILE),
        policy_file=_read_if_there(policy),
    )


def load_flow(
    path: Path, allowed_hosts: frozenset[str] = frozenset(), values: Mapping[str, str] | None = None
) -> spec.Flow:
    """One flow file (without the checks that need the other flows); ``values`` are the resolved
    variables (by default, those its folder's ``vars.yaml`` declares, with no operations'
    values)."""
    if values is None:
        values = resolve_vars(_read_if_there(path.parent / VARS_FILE))
    flow, _ = parse_flow(*_read(path), allowed_hosts, values)
    return flow


def load_policy(folder: Path, policy_file: Path | None = None) -> Policy:
    """The policy (``policy_file``, or ``folder/policy.yaml``), or the defaults when there is
    none."""
    source = _read_if_there(policy_path(folder, policy_file))
    return parse_policy(*source) if source is not None else Policy()


def _read(path: Path) -> Source:
    try:
        return path, path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowError([f"{path}:1: cannot be read: {exc}"]) from None


def _read_if_there(path: Path) -> Source | None:
    return _read(path) if path.is_file() else None
