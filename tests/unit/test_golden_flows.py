"""Golden conversations: every ``tests/flows/<flow id>.yaml`` against the shipped ``flows/``.

The files are run by the same runner as ``continuum flows test`` (one pytest param per case,
failing with the runner's text); every shipped flow has a file, every file a flow, and the
cases together visit every step of every shipped flow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.engine.conversations import (
    ROOT,
    case_params,
    catalogue,
    check_case,
    flow_files,
    flows_with_cases,
    uncovered,
)

FLOWS = ROOT / "flows"
CASES = ROOT / "tests" / "flows"
HOSTS = ("127.0.0.1:8090", "localhost:8090")


@pytest.mark.parametrize(("path", "index"), case_params(CASES))
def test_case(path: Path, index: int) -> None:
    check_case(path, index, FLOWS, HOSTS)


def test_the_shipped_flows_load_with_the_sandbox_allow_list() -> None:
    assert {f.id for f in catalogue(FLOWS, HOSTS).flows} == flow_files(FLOWS)


def test_every_shipped_flow_has_a_test_file() -> None:
    missing = sorted(flow_files(FLOWS) - flows_with_cases(CASES))
    assert missing == [], f"add tests/flows/<flow id>.yaml for {missing}"


def test_every_test_file_names_a_shipped_flow() -> None:
    orphans = sorted(flows_with_cases(CASES) - flow_files(FLOWS))
    assert orphans == [], f"no flow in flows/ for the test files {orphans}"


def test_every_step_of_every_shipped_flow_is_visited() -> None:
    assert uncovered(CASES, FLOWS, HOSTS) == {}
