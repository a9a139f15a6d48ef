"""Helpers for the flow-file tests: a valid head (lines 1-7) that bad steps follow from line 8."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import FlowError
from orchestrator.flowfiles import load_flows

ROOT = Path(__file__).resolve().parents[3]
HOSTS = ("127.0.0.1:8090",)
HEAD = """\
spec_version: 1
id: t
version: 1
stage: support
owner: tests
trigger: {type: message, match: keyword, words: [GO]}
steps:
"""
SEND = "  - {id: first, type: send, template: hi}\n"


def problems(folder: Path, hosts: tuple[str, ...] = HOSTS) -> list[str]:
    with pytest.raises(FlowError) as info:
        load_flows(folder, hosts)
    return info.value.problems


def only_problem(tmp_path: Path, text: str, name: str = "t.yaml") -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    found = problems(tmp_path)
    assert len(found) == 1, found
    return found[0]


def assert_at(problem: str, path: Path, line: int, *fragments: str) -> None:
    assert problem.startswith(f"{path}:{line}: "), problem
    for fragment in fragments:
        assert fragment in problem
