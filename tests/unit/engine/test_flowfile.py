"""Loading flow files: a valid folder loads; every problem comes out as ``file:line: reason``."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.engine.flowfile import load_flow, load_flows
from orchestrator.errors import FlowError

ROOT = Path(__file__).resolve().parents[3]

VALID = """\
spec_version: 1
id: greet
version: 2
channels: [sms]
priority: 5
trigger:
  keywords: [HI]
steps:
  - id: reply
    type: send
    template: "Hello {{ event.channel }}"
"""


def _problems(folder: Path) -> list[str]:
    with pytest.raises(FlowError) as info:
        load_flows(folder)
    return info.value.problems


def _only_problem(tmp_path: Path, text: str, name: str = "bad.yaml") -> tuple[Path, str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    problems = _problems(tmp_path)
    assert len(problems) == 1, problems
    return path, problems[0]


def test_the_repository_flows_load() -> None:
    catalogue = load_flows(ROOT / "flows")
    assert [f.id for f in catalogue.flows] == ["help", "order-status"]  # priority 100, then 50


def test_a_valid_flow_loads_with_its_fields(tmp_path: Path) -> None:
    (tmp_path / "greet.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "policy.yaml").write_text("quiet_hours: {start: 21}\n", encoding="utf-8")
    (flow,) = load_flows(tmp_path).flows  # policy.yaml is not a flow
    assert (flow.id, flow.version, flow.channels, flow.priority) == ("greet", 2, ("sms",), 5)
    assert flow.steps[0].purpose == "service"


def test_catalogue_orders_by_priority_then_id(tmp_path: Path) -> None:
    for name, prio in (("b", 1), ("a", 1), ("c", 9)):
        text = VALID.replace("id: greet", f"id: {name}").replace("priority: 5", f"priority: {prio}")
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    catalogue = load_flows(tmp_path)
    assert [f.id for f in catalogue.flows] == ["c", "a", "b"]
    assert catalogue.get("a") is catalogue.flows[1]
    assert catalogue.get("zzz") is None


def test_unknown_key(tmp_path: Path) -> None:
    path, problem = _only_problem(tmp_path, VALID.replace("priority: 5", "colour: blue"))
    assert problem.startswith(f"{path}:5: colour: ")
    assert "Extra inputs are not permitted" in problem


def test_bad_step_type(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(VALID.replace("type: send", "type: sned"), encoding="utf-8")
    problems = _problems(tmp_path)
    # pydantic also reports "steps: Tuple should have at least 1 item" (noise, see the report)
    assert f"{path}:10: steps.0.type: Input should be 'send'" in problems


def test_duplicate_step_ids_are_rejected(tmp_path: Path) -> None:
    text = VALID + "  - id: reply\n    type: send\n    template: again\n"
    path, problem = _only_problem(tmp_path, text)
    assert problem.startswith(f"{path}:")
    assert problem.endswith("duplicate step id 'reply'")


def test_duplicate_step_ids_point_at_the_duplicate(tmp_path: Path) -> None:
    text = VALID + "  - id: reply\n    type: send\n    template: again\n"
    path, problem = _only_problem(tmp_path, text)
    assert problem.startswith(f"{path}:12: ")


def test_bad_regex(tmp_path: Path) -> None:
    path, problem = _only_problem(tmp_path, VALID.replace("keywords: [HI]", 'regex: "(unclosed"'))
    assert problem.startswith(f"{path}:7: trigger: ")
    assert "regex does not compile" in problem


def test_trigger_needs_exactly_one_kind(tmp_path: Path) -> None:
    text = VALID.replace("keywords: [HI]", 'keywords: [HI]\n  regex: "hi"')
    path, problem = _only_problem(tmp_path, text)
    assert problem.startswith(f"{path}:7: trigger: ")
    assert "exactly one of" in problem


def test_bad_template_syntax(tmp_path: Path) -> None:
    path, problem = _only_problem(
        tmp_path, VALID.replace("{{ event.channel }}", "{{ event.channel")
    )
    assert problem.startswith(f"{path}:11: steps.0.template: ")


def test_unsupported_spec_version_is_rejected(tmp_path: Path) -> None:
    path, problem = _only_problem(tmp_path, VALID.replace("spec_version: 1", "spec_version: 9"))
    assert problem.startswith(f"{path}:1: ")
    assert "spec_version 9 is not supported" in problem


def test_unsupported_spec_version_points_at_its_line(tmp_path: Path) -> None:
    text = "# a comment\nid: greet\n" + VALID.replace("spec_version: 1", "spec_version: 9").replace(
        "id: greet\n", ""
    )
    path, problem = _only_problem(tmp_path, text)
    assert problem.startswith(f"{path}:3: ")


def test_invalid_yaml(tmp_path: Path) -> None:
    path, problem = _only_problem(tmp_path, VALID.replace("version: 2", "version: [2"))
    assert problem.startswith(f"{path}:")
    assert ": invalid YAML: " in problem
    line = int(problem[len(f"{path}:") :].split(":", 1)[0])
    assert 3 <= line <= 4  # the parser notices at the unclosed bracket or the line after it


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path, problem = _only_problem(tmp_path, "- just\n- a list\n")
    assert problem == f"{path}:1: a flow file holds one mapping"


def test_every_bad_file_is_reported_and_good_ones_do_not_hide_them(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(VALID.replace("type: send", "type: x"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(VALID.replace("id: greet", "id: ok"), encoding="utf-8")
    (tmp_path / "c.yaml").write_text(VALID.replace("version: 2", "version: 0"), encoding="utf-8")
    problems = _problems(tmp_path)
    assert sorted({p.split(":", 1)[0] for p in problems}) == [
        str(tmp_path / "a.yaml"),
        str(tmp_path / "c.yaml"),
    ]


def test_duplicate_flow_id_across_files_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "two.yaml").write_text(VALID, encoding="utf-8")
    (problem,) = _problems(tmp_path)
    assert "flow id 'greet' is already defined in one.yaml" in problem


def test_duplicate_flow_id_names_the_real_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "two.yaml").write_text(VALID, encoding="utf-8")
    (problem,) = _problems(tmp_path)
    assert problem.startswith(f"{tmp_path / 'two.yaml'}:2: ")


def test_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert _problems(missing) == [f"{missing}: flows folder does not exist"]


def test_load_flow_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "greet.yaml"
    path.write_text(VALID, encoding="utf-8")
    assert load_flow(path).id == "greet"
