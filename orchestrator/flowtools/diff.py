"""``continuum flows diff``: what changed between two sets of flows, by meaning, not by text.

Both sides are validated first, then compared as models, so YAML formatting, comments, key
order and spelling (``24h`` vs ``PT24H``) do not count. Per flow the diff reports the fields
that changed, steps added, removed and changed (with the keys that changed, old → new), and
edges (how steps connect, implicit ``next`` included) added and removed.

Example::

    for line in diff_flows(load_side(Path("flows"), hosts), load_side(Path("new"), hosts)):
        print(line)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from orchestrator.engine import spec
from orchestrator.flowfiles import load_flow, load_flows
from orchestrator.flowtools.graph import Edge, edges, shorten

_NOT_FIELDS = frozenset({"spec_version", "id", "steps"})


def load_side(path: Path, allowed_hosts: Iterable[str]) -> dict[str, spec.Flow]:
    """The flows of one side, by id: one file, or every flow in a folder.

    Raises :class:`~orchestrator.errors.FlowError` when a flow is invalid.
    """
    hosts = frozenset(h.lower() for h in allowed_hosts)
    if path.is_dir():
        return {f.id: f for f in load_flows(path, hosts).flows}
    flow = load_flow(path, hosts)
    return {flow.id: flow}


def diff_flows(old: Mapping[str, spec.Flow], new: Mapping[str, spec.Flow]) -> list[str]:
    """Readable lines describing every difference; empty when the two sides mean the same."""
    lines: list[str] = []
    for flow_id in sorted(old.keys() | new.keys()):
        a, b = old.get(flow_id), new.get(flow_id)
        if a is None and b is not None:
            lines.append(f"flow {flow_id}: added (v{b.version}, {len(b.steps)} steps)")
        elif b is None and a is not None:
            lines.append(f"flow {flow_id}: removed (was v{a.version})")
        elif a is not None and b is not None:
            changes = diff_flow(a, b)
            if changes:
                lines.append(f"flow {flow_id}: changed")
                lines.extend(f"  {c}" for c in changes)
    return lines


def diff_flow(a: spec.Flow, b: spec.Flow) -> list[str]:
    """The differences between two versions of one flow (empty when equivalent)."""
    old, new = _doc(a), _doc(b)
    lines = [
        f"{key}: {change}"
        for key in old
        if key not in _NOT_FIELDS
        for change in _changes(old[key], new[key])
    ]
    old_steps = {s["id"]: s for s in old["steps"]}
    new_steps = {s["id"]: s for s in new["steps"]}
    lines += [f"step added: {i} ({new_steps[i]['type']})" for i in new_steps if i not in old_steps]
    lines += [
        f"step removed: {i} ({old_steps[i]['type']})" for i in old_steps if i not in new_steps
    ]
    for step_id, before in old_steps.items():
        after = new_steps.get(step_id)
        if after is not None and after != before:
            lines += [
                f"step {step_id}: {key}: {change}"
                for key in dict.fromkeys([*before, *after])
                for change in _changes(before.get(key), after.get(key))
            ]
    old_edges, new_edges = set(edges(a)), set(edges(b))
    lines += [f"edge added: {_edge(e)}" for e in edges(b) if e not in old_edges]
    lines += [f"edge removed: {_edge(e)}" for e in edges(a) if e not in new_edges]
    return lines


def _doc(flow: spec.Flow) -> dict[str, Any]:
    doc: dict[str, Any] = flow.model_dump(mode="json")
    return doc


def _changes(before: Any, after: Any) -> list[str]:
    """``old → new``, or for two mappings one line per changed key (``key: old → new``)."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict) and before and after:
        return [
            f"{key}: {change}"
            for key in dict.fromkeys([*before, *after])
            for change in _changes(before.get(key), after.get(key))
        ]
    return [f"{_show(before)} → {_show(after)}"]


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return repr(shorten(value, 50))
    return shorten(orjson.dumps(value).decode(), 50)


def _edge(e: Edge) -> str:
    label = f" [{shorten(e.label, 40)}]" if e.label else ""
    return f"{e.source} -> {e.target}{label}"
