"""``flows graph``: Mermaid text and an SVG that parses, each naming every step and edge."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.flowfiles import load_flows
from orchestrator.flowtools.graph import Edge, edges, mermaid, svg
from tests.unit.flowtools.helpers import HOSTS, ROOT

SHIPPED = load_flows(ROOT / "flows", HOSTS)


def test_edges_follow_the_engine() -> None:
    flow = SHIPPED.get("welcome")
    assert flow is not None
    found = set(edges(flow))
    assert Edge("start", "ask_consent") in found  # implicit next
    assert Edge("ask_consent", "opt_in", "agree") in found
    assert Edge("ask_consent", "no_answer", "timeout") in found
    assert Edge("set_spanish", "welcome_done") in found  # explicit next
    assert not any(e.source == "done" for e in found)  # end has no successor
    assert not any(e.source == "no_answer" for e in found)  # the last step ends the flow


@pytest.mark.parametrize("flow_id", [f.id for f in SHIPPED.flows])
def test_mermaid_names_every_step_and_edge_label(flow_id: str) -> None:
    flow = SHIPPED.get(flow_id)
    assert flow is not None
    text = mermaid(flow)
    assert text.startswith("flowchart TD\n    trigger")
    for step in flow.steps:
        assert f"{step.id}<br/>{step.type}" in text
    for label in {e.label for e in edges(flow) if e.label and not e.label.startswith("case")}:
        assert f'|"{label}"|' in text


def test_mermaid_switch_cases_keep_their_distinguishing_end() -> None:
    flow = SHIPPED.get("order-status")
    assert flow is not None
    assert "status == 'shipped'\"|" in mermaid(flow)


@pytest.mark.parametrize("flow_id", [f.id for f in SHIPPED.flows])
def test_svg_is_xml_naming_every_step(flow_id: str) -> None:
    flow = SHIPPED.get(flow_id)
    assert flow is not None
    root = ET.fromstring(svg(flow))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {s.id for s in flow.steps} <= texts
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) >= len(edges(flow))


def test_cli_writes_svg_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "help.svg"
    argv = ["flows", "graph", "help", "--flows", str(ROOT / "flows"), "--format", "svg"]
    assert main([*argv, "--output", str(out)]) == 0
    ET.parse(out)
    assert capsys.readouterr().out == ""


def test_cli_prints_mermaid_for_a_flow_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "graph", str(ROOT / "flows" / "help.yaml")]) == 0
    assert "reply<br/>send" in capsys.readouterr().out


def test_cli_unknown_flow(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "graph", "nope", "--flows", str(ROOT / "flows")]) == 2
    assert "no flow 'nope'" in capsys.readouterr().err
