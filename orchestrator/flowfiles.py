"""Reading a flows folder: the flow files, ``vars.yaml``, the contact policy and the routing
model, handed as text to the pure parsers (:mod:`orchestrator.engine.flowfile`,
:mod:`orchestrator.policy.loader`, :mod:`orchestrator.routing.loader`).

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
from orchestrator.routing.loader import ROUTING_FILE, parse_routing, unknown_queues
from orchestrator.routing.spec import Routing

__all__ = [
    "NOT_FLOWS",
    "POLICY_FILE",
    "ROUTING_FILE",
    "VARS_FILE",
    "load_flow",
    "load_flows",
    "load_policy",
    "load_routing",
    "policy_path",
]

NOT_FLOWS = frozenset({POLICY_FILE, VARS_FILE, ROUTING_FILE})
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
    """Load and validate every ``*.yaml`` flow in ``folder``, the policy and the routing model;
    raise :class:`FlowError` listing every problem as ``file:line: reason``. Every ``*.yaml``
    file is a flow but ``vars.yaml``, ``routing.yaml`` and the policy's file (when it is in the
    folder)."""
    if not folder.is_dir():
        raise FlowError([f"{folder}: flows folder does not exist"])
    policy = policy_path(folder, policy_file)
    not_flows = {(folder / n).resolve() for n in (VARS_FILE, ROUTING_FILE)} | {policy.resolve()}
    flows = [_read(p) for p in sorted(folder.glob("*.yaml")) if p.resolve() not in not_flows]
    problems: list[str] = []
    try:
        catalogue = build_catalogue(
            flows,
            allowed_hosts,
            variables,
            vars_file=_read_if_there(folder / VARS_FILE),
            policy_file=_read_if_there(policy),
        )
    except FlowError as exc:
        problems, catalogue = list(exc.problems), None
    routing = _read_if_there(folder / ROUTING_FILE)
    if routing is not None:
        flow_ids = [f.id for f in catalogue.flows] if catalogue is not None else None
        try:
            problems.extend(unknown_queues(parse_routing(*routing, flow_ids), flows))
        except FlowError as exc:
            problems.extend(exc.problems)
    if problems or catalogue is None:
        raise FlowError(problems)
    return catalogue


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


def load_routing(folder: Path, flow_ids: Iterable[str] | None = None) -> Routing:
    """The folder's routing model (``routing.yaml``), or one with no queues when there is none;
    ``flow_ids``, when given, are the flows a closed queue's reply may name."""
    source = _read_if_there(folder / ROUTING_FILE)
    return parse_routing(*source, flow_ids) if source is not None else Routing()


def _read(path: Path) -> Source:
    try:
        return path, path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowError([f"{path}:1: cannot be read: {exc}"]) from None


def _read_if_there(path: Path) -> Source | None:
    return _read(path) if path.is_file() else None
