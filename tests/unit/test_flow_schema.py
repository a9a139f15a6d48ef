"""The JSON Schema editors use is the one the loader enforces, and the shipped copy is current."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from orchestrator.cli import main
from orchestrator.engine.flowfile import parse_yaml

REPO = Path(__file__).resolve().parents[2]


def _schema(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["flows", "schema"]) == 0
    doc: dict[str, object] = json.loads(capsys.readouterr().out)
    return doc


def test_shipped_schema_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    shipped = json.loads((REPO / "docs" / "flow.schema.json").read_text())
    assert _schema(capsys) == shipped, "regenerate: continuum flows schema > docs/flow.schema.json"


def test_every_shipped_flow_validates_against_the_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    validator = jsonschema.Draft202012Validator(_schema(capsys))
    flows = [p for p in sorted((REPO / "flows").glob("*.yaml")) if p.name != "policy.yaml"]
    assert flows
    for path in flows:
        errors = list(validator.iter_errors(parse_yaml(path.read_text())))
        assert not errors, f"{path.name}: {errors[0].message}"


def test_the_schema_rejects_an_unknown_step_type(capsys: pytest.CaptureFixture[str]) -> None:
    validator = jsonschema.Draft202012Validator(_schema(capsys))
    flow = parse_yaml((REPO / "flows" / "help.yaml").read_text())
    flow["steps"][0]["type"] = "sned"
    assert list(validator.iter_errors(flow))
