"""Shared by the golden tests: one pytest param per case of every conversation test file.

Each file is run once through :func:`orchestrator.flowtools.testing.run_file` (cached), so the
params, the coverage check and the failure texts all come from the same runner that
``continuum flows test`` uses.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.flowfile import parse_yaml
from orchestrator.flowfiles import NOT_FLOWS, load_flows
from orchestrator.flowtools.testing import CaseResult, coverage, run_file

ROOT = Path(__file__).resolve().parents[3]


@cache
def catalogue(folder: Path, hosts: tuple[str, ...]) -> Catalogue:
    """The flows of ``folder`` (loaded once per session)."""
    return load_flows(folder, hosts)


@cache
def results(path: Path, folder: Path, hosts: tuple[str, ...]) -> tuple[CaseResult, ...]:
    """Every case of one test file, run once."""
    return tuple(run_file(path, catalogue(folder, hosts)))


def case_params(cases_dir: Path) -> list[Any]:
    """``(path, index)`` per case, with the id ``flow:case name``."""
    params = []
    for path in sorted(cases_dir.glob("*.yaml")):
        doc = parse_yaml(path.read_text(encoding="utf-8"))
        for index, case in enumerate(doc["cases"]):
            params.append(pytest.param(path, index, id=f"{doc['flow']}:{case['name']}"))
    return params


def check_case(path: Path, index: int, folder: Path, hosts: tuple[str, ...]) -> None:
    """Fail with the runner's own failure text."""
    result = results(path, folder, hosts)[index]
    if not result.passed:
        pytest.fail("\n".join(result.failures), pytrace=False)


def flow_files(folder: Path) -> set[str]:
    """The ids of the flows in ``folder`` (``policy.yaml`` and ``vars.yaml`` are not flows)."""
    ids = set()
    for path in folder.glob("*.yaml"):
        if path.name not in NOT_FLOWS:
            ids.add(str(parse_yaml(path.read_text(encoding="utf-8"))["id"]))
    return ids


def flows_with_cases(cases_dir: Path) -> set[str]:
    """The flow ids the conversation test files name (one file per flow, named after it)."""
    found = set()
    for path in cases_dir.glob("*.yaml"):
        flow = str(parse_yaml(path.read_text(encoding="utf-8"))["flow"])
        assert path.stem == flow, f"{path.name} tests {flow!r}: name it {flow}.yaml"
        found.add(flow)
    return found


def uncovered(cases_dir: Path, folder: Path, hosts: tuple[str, ...]) -> dict[str, list[str]]:
    """Per flow under test, the steps no case visited (only flows with gaps)."""
    everything = [r for p in sorted(cases_dir.glob("*.yaml")) for r in results(p, folder, hosts)]
    report = coverage(catalogue(folder, hosts), everything)
    return {flow: missing for flow, (_, _, missing) in report.items() if missing}
