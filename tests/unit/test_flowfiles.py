"""Reading a flows folder (``orchestrator/flowfiles.py``): the policy's own file setting, and the
files that are not flows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.errors import FlowError
from orchestrator.flowfiles import load_flows, load_policy
from orchestrator.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ("127.0.0.1:8090",)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", folder)
    return folder


def test_the_policy_file_may_live_outside_the_flows_folder(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    elsewhere = tmp_path / "compliance" / "contact-policy.yaml"
    elsewhere.parent.mkdir()
    (folder / "policy.yaml").rename(elsewhere)
    elsewhere.write_text(elsewhere.read_text().replace("id: ", "id: moved-", 1))
    catalogue = load_flows(folder, HOSTS, policy_file=elsewhere)
    assert catalogue.policy.id.startswith("moved-")
    assert load_policy(folder, elsewhere).id == catalogue.policy.id
    assert load_policy(folder).id == "default"  # the folder has none now: the defaults


def test_with_a_policy_file_elsewhere_a_policy_yaml_left_in_the_folder_is_read_as_a_flow(
    tmp_path: Path,
) -> None:
    folder = _folder(tmp_path)
    elsewhere = tmp_path / "policy.yaml"
    shutil.copy(folder / "policy.yaml", elsewhere)
    with pytest.raises(FlowError) as info:
        load_flows(folder, HOSTS, policy_file=elsewhere)
    assert any(p.startswith(f"{folder / 'policy.yaml'}:") for p in info.value.problems)


def test_a_broken_policy_file_is_a_file_line_error_naming_it(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    bad = tmp_path / "policy.yaml"
    bad.write_text("policy_version: 1\nquiet_hours: {windows: {marketing: {start: 25:00}}}\n")
    with pytest.raises(FlowError) as info:
        load_flows(folder, HOSTS, policy_file=bad)
    assert [p for p in info.value.problems if p.startswith(f"{bad}:2: ")]


def test_the_setting_is_continuum_policy_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_POLICY_FILE", "/etc/continuum/policy.yaml")
    assert Settings().policy_file == Path("/etc/continuum/policy.yaml")
    monkeypatch.delenv("CONTINUUM_POLICY_FILE")
    assert Settings().policy_file is None
