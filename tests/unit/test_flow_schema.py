"""The JSON Schemas editors use are the ones the loaders enforce, the shipped copies are current,
and every shipped file validates with formats checked (``format`` is not a free annotation)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from orchestrator.cli import main
from orchestrator.durations import PATTERN, parse_duration
from orchestrator.engine.flowfile import parse_yaml
from orchestrator.policy.spec import json_schema as policy_schema
from orchestrator.routing.spec import json_schema as routing_schema

REPO = Path(__file__).resolve().parents[2]
REGENERATE_POLICY = (
    ".venv/bin/python -c 'import json; from orchestrator.policy.spec import json_schema; "
    "print(json.dumps(json_schema(), indent=2, ensure_ascii=False))' > docs/policy.schema.json"
)

REGENERATE_ROUTING = (
    ".venv/bin/python -c 'import json; from orchestrator.routing.spec import json_schema; "
    "print(json.dumps(json_schema(), indent=2, ensure_ascii=False))' > docs/routing.schema.json"
)

FORMATS = jsonschema.FormatChecker()
"""jsonschema's checkers, plus ``duration`` as JSON Schema defines it (ISO 8601 only): without
the optional ``isoduration`` package jsonschema would let any string pass as a duration."""


@FORMATS.checks("duration")
def _iso_8601_duration(value: object) -> bool:
    iso = r"P(?!$)(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?"
    return not isinstance(value, str) or re.fullmatch(iso, value) is not None


def _schema(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["flows", "schema"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


def _formats(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("format"), str):
            yield node["format"]
        for value in node.values():
            yield from _formats(value)
    elif isinstance(node, list):
        for value in node:
            yield from _formats(value)


def test_shipped_schema_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    shipped = json.loads((REPO / "docs" / "flow.schema.json").read_text())
    assert _schema(capsys) == shipped, "regenerate: continuum flows schema > docs/flow.schema.json"


def test_shipped_policy_schema_is_current() -> None:
    shipped = json.loads((REPO / "docs" / "policy.schema.json").read_text())
    assert policy_schema() == shipped, f"regenerate: {REGENERATE_POLICY}"


def test_shipped_routing_schema_is_current() -> None:
    shipped = json.loads((REPO / "docs" / "routing.schema.json").read_text())
    assert routing_schema() == shipped, f"regenerate: {REGENERATE_ROUTING}"


def test_the_shipped_routing_validates_with_formats_checked() -> None:
    doc = parse_yaml((REPO / "flows" / "routing.yaml").read_text())
    errors = list(_validator(routing_schema()).iter_errors(doc))
    assert not errors, f"routing.yaml: {errors[0].json_path}: {errors[0].message}"


def test_the_routing_schema_rejects_a_bad_time_range_and_an_unknown_field() -> None:
    validator = _validator(routing_schema())
    doc = parse_yaml((REPO / "flows" / "routing.yaml").read_text())
    doc["schedules"]["care-hours"]["hours"]["sat"] = "9am-5pm"
    assert list(validator.iter_errors(doc))
    doc = parse_yaml((REPO / "flows" / "routing.yaml").read_text())
    doc["queues"]["general"]["colour"] = "blue"
    assert list(validator.iter_errors(doc))


def test_every_shipped_flow_validates_with_formats_checked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    validator = _validator(_schema(capsys))
    flows = [p for p in sorted((REPO / "flows").glob("*.yaml")) if p.name not in _NOT_FLOWS]
    assert flows
    for path in flows:
        errors = list(validator.iter_errors(parse_yaml(path.read_text())))
        assert not errors, f"{path.name}: {errors[0].json_path}: {errors[0].message}"


def test_the_shipped_policy_validates_with_formats_checked() -> None:
    doc = parse_yaml((REPO / "flows" / "policy.yaml").read_text())
    errors = list(_validator(policy_schema()).iter_errors(doc))
    assert not errors, f"policy.yaml: {errors[0].json_path}: {errors[0].message}"


def test_every_format_the_schemas_use_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    used = (
        set(_formats(_schema(capsys)))
        | set(_formats(policy_schema()))
        | set(_formats(routing_schema()))
    )
    assert used <= set(FORMATS.checkers), f"unchecked formats {used - set(FORMATS.checkers)}"


@pytest.mark.parametrize(
    "text", ["30m", "24h", "7d", "2w", "45s", "5 s", "PT24H", "P1DT2H", "pt4h"]
)
def test_the_duration_pattern_accepts_what_the_loader_accepts(text: str) -> None:
    parse_duration(text)
    assert re.search(PATTERN, text)


@pytest.mark.parametrize("text", ["4 hours", "1.5h", "h", "24", "-1d", "P1H"])
def test_the_duration_pattern_rejects_what_the_loader_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
    assert not re.search(PATTERN, text)


def test_the_schemas_reject_a_bad_duration_and_an_unknown_step_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    validator = _validator(_schema(capsys))
    flow = parse_yaml((REPO / "flows" / "help.yaml").read_text())
    flow["steps"][0]["type"] = "sned"
    assert list(validator.iter_errors(flow))
    policy = parse_yaml((REPO / "flows" / "policy.yaml").read_text())
    policy["dedupe"]["same_template_within"] = "ten minutes"
    assert list(_validator(policy_schema()).iter_errors(policy))


_NOT_FLOWS = {"policy.yaml", "vars.yaml", "routing.yaml"}
