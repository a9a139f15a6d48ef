"""Loading flow files: a valid folder loads; every problem comes out as ``file:line: reason``.

Each bad flow below is the valid ``HEAD`` (lines 1-7) followed by steps from line 8, so the
expected line numbers can be read off the text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.engine.flowfile import parse_yaml
from orchestrator.errors import FlowError
from orchestrator.flowfiles import load_flow, load_flows
from tests.unit.engine.flowfiles import HEAD, ROOT, SEND, assert_at, only_problem, problems


def test_the_shipped_flows_load() -> None:
    catalogue = load_flows(ROOT / "flows", ("127.0.0.1:8090", "localhost:8090"))
    assert "help" in {f.id for f in catalogue.flows}


def test_a_valid_flow_loads_and_policy_yaml_is_the_policy_not_a_flow(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(HEAD + SEND, encoding="utf-8")
    (tmp_path / "policy.yaml").write_text("id: strict\ncaps: []\n", encoding="utf-8")
    catalogue = load_flows(tmp_path)
    (flow,) = catalogue.flows
    assert (flow.id, flow.version, flow.steps[0].id) == ("t", 1, "first")
    assert (catalogue.policy.id, catalogue.policy.caps) == ("strict", ())


def test_an_invalid_policy_is_a_file_line_error(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(HEAD + SEND, encoding="utf-8")
    (tmp_path / "policy.yaml").write_text("id: x\nquiet_hours: {start: 21}\n", encoding="utf-8")
    with pytest.raises(FlowError) as caught:
        load_flows(tmp_path)
    assert caught.value.problems[0].startswith(f"{tmp_path / 'policy.yaml'}:2: quiet_hours")


def test_catalogue_orders_by_priority_then_id(tmp_path: Path) -> None:
    for name, priority in (("b", 1), ("a", 1), ("c", 9)):
        text = HEAD.replace("id: t", f"id: {name}") + f"priority: {priority}\n"
        (tmp_path / f"{name}.yaml").write_text(text.replace("steps:\n", "") + "steps:\n" + SEND)
    assert [f.id for f in load_flows(tmp_path).flows] == ["c", "a", "b"]


SCHEDULE = "trigger:\n  type: schedule\n  cron: '{cron}'\n  timezone: {zone}\n  audience: 'true'\n"
BAD_HEADS = {
    "unknown top-level key": (
        HEAD.replace("owner: tests", "owner: tests\ncolour: red"),
        6,
        "colour",
    ),
    "unsupported spec_version": (
        HEAD.replace("spec_version: 1", "spec_version: 7"),
        1,
        "spec_version 7 is not supported",
    ),
    "bad trigger regex": (
        HEAD.replace(
            "trigger: {type: message, match: keyword, words: [GO]}",
            "trigger:\n  type: message\n  match: regex\n  pattern: '(unclosed'",
        ),
        9,
        "regex",
    ),
    "unknown variable in a trigger expression": (
        HEAD.replace(
            "{type: message, match: keyword, words: [GO]}",
            "\n  type: event\n  name: e.x\n  when: 'payload.plan'",
        ),
        9,
        "payload",
    ),
    "bad cron": (
        HEAD.replace(
            "trigger: {type: message, match: keyword, words: [GO]}\n",
            SCHEDULE.format(cron="61 * * * *", zone="UTC"),
        ),
        8,
        "cron",
    ),
    "unknown time zone": (
        HEAD.replace(
            "trigger: {type: message, match: keyword, words: [GO]}\n",
            SCHEDULE.format(cron="0 9 * * 1", zone="Mars/Olympus"),
        ),
        9,
        "Mars/Olympus",
    ),
    "bad reentry duration": (
        HEAD.replace("owner: tests", "owner: tests\nreentry: {after: soon}"),
        6,
        "not a duration",
    ),
    "bad exit_when variable": (
        HEAD.replace("owner: tests", "owner: tests\nexit_when: [nope]"),
        6,
        "nope",
    ),
}


@pytest.mark.parametrize(("head", "line", "fragment"), BAD_HEADS.values(), ids=list(BAD_HEADS))
def test_bad_flow_setting(tmp_path: Path, head: str, line: int, fragment: str) -> None:
    assert_at(only_problem(tmp_path, head + SEND), tmp_path / "t.yaml", line, fragment)


def test_bad_cron_and_zone_point_at_their_own_lines(tmp_path: Path) -> None:
    trigger = SCHEDULE.format(cron="61 * * * *", zone="Mars/Olympus")
    text = HEAD.replace("trigger: {type: message, match: keyword, words: [GO]}\n", trigger)
    (tmp_path / "t.yaml").write_text(text + SEND, encoding="utf-8")
    found = problems(tmp_path)
    assert any(p.startswith(f"{tmp_path / 't.yaml'}:8: ") and "cron" in p for p in found)
    assert any(p.startswith(f"{tmp_path / 't.yaml'}:9: ") and "Mars" in p for p in found)


def test_invalid_yaml(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, HEAD + "  - id: first\n    type: [send\n")
    assert problem.startswith(f"{tmp_path / 't.yaml'}:"), problem
    assert "invalid YAML" in problem
    assert int(problem.split(":")[1]) >= 9


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    assert_at(only_problem(tmp_path, "- just\n- a list\n"), tmp_path / "t.yaml", 1, "mapping")


def test_duplicate_flow_id_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(HEAD + SEND, encoding="utf-8")
    problem = only_problem(tmp_path, "# a copy\n" + HEAD + SEND, name="b.yaml")
    assert_at(problem, tmp_path / "b.yaml", 3, "'t' is already defined in a.yaml")


def test_subflow_to_a_missing_flow(tmp_path: Path) -> None:
    steps = "  - id: sub\n    type: subflow\n    flow: ghost\n"
    problem = only_problem(tmp_path, HEAD + steps)
    assert_at(problem, tmp_path / "t.yaml", 10, "no flow 'ghost'")


def test_every_bad_file_is_reported_and_good_ones_do_not_hide_them(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(HEAD.replace("id: t", "id: a") + SEND, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(HEAD + "  - {id: x, type: teleport}\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text("spec_version: [\n", encoding="utf-8")
    found = problems(tmp_path)
    assert sorted({p.split(":")[0] for p in found}) == [
        str(tmp_path / "b.yaml"),
        str(tmp_path / "c.yaml"),
    ]


def test_missing_folder(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope") == [f"{tmp_path / 'nope'}: flows folder does not exist"]


def test_load_flow_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + SEND, encoding="utf-8")
    assert load_flow(path).id == "t"


def test_yes_and_no_stay_strings(tmp_path: Path) -> None:
    steps = (
        "  - id: q\n    type: ask\n    template: q?\n    categories:\n"
        "      - {name: yes, test: has_any_word, args: [yes, y]}\n"
        "      - {name: no, test: has_any_word, args: [no, off]}\n"
        "    branches: {yes: q, no: q, other: q}\n"
    )
    (tmp_path / "t.yaml").write_text(HEAD + steps, encoding="utf-8")
    (flow,) = load_flows(tmp_path).flows
    ask = flow.steps[0]
    assert [c.name for c in ask.categories] == ["yes", "no"]
    assert [c.args for c in ask.categories] == [("yes", "y"), ("no", "off")]
    assert set(ask.branches) == {"yes", "no", "other"}


def test_yaml_1_2_booleans() -> None:
    doc = parse_yaml("a: yes\nb: No\nc: on\nd: true\ne: False\n")
    assert doc == {"a": "yes", "b": "No", "c": "on", "d": True, "e": False}
