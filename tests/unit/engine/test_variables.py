"""Flow variables: declared in ``vars.yaml``, set by operations, replaced and checked at load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.engine import spec
from orchestrator.errors import FlowError
from orchestrator.flowfiles import load_flows
from orchestrator.settings import Settings
from tests.unit.engine.flowfiles import HEAD, ROOT

ORDERS = "https://orders.example.com/api"
VARS = """\
vars:
  order_api:
    description: the order API
    kind: url
    default: "{{ sandbox_url }}/_sandbox/api"
"""


def lookup_url(folder: Path, settings: Settings) -> str:
    catalogue = load_flows(folder, settings.flows_allowed_hosts, settings.flow_variables)
    flow = catalogue.get("order-status")
    assert flow is not None
    step = next(s for s in flow.steps if s.id == "lookup")
    assert isinstance(step, spec.CallStep)
    return step.url


def problems_of(folder: Path, variables: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(FlowError) as info:
        load_flows(folder, ("127.0.0.1:8090",), variables)
    return info.value.problems


def flow_folder(tmp_path: Path, template: str, vars_text: str = VARS) -> Path:
    (tmp_path / "vars.yaml").write_text(vars_text)
    (tmp_path / "t.yaml").write_text(
        HEAD + f"  - {{id: first, type: send, template: {template!r}}}\n"
    )
    return tmp_path


def test_the_shipped_flow_calls_the_order_api_variable_which_follows_the_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "127.0.0.1" not in (ROOT / "flows" / "order_status.yaml").read_text()
    assert lookup_url(ROOT / "flows", Settings()).startswith(
        "http://127.0.0.1:8090/_sandbox/api/orders/"
    )
    monkeypatch.setenv("CONTINUUM_SANDBOX__PORT", "18123")
    moved = Settings()
    assert moved.flows_allowed_hosts == ("127.0.0.1:18123", "localhost:18123")
    assert lookup_url(ROOT / "flows", moved).startswith("http://127.0.0.1:18123/_sandbox/api/")


def test_operations_set_a_variable_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTINUUM_FLOWS_VARS", f'{{"order_api": "{ORDERS}"}}')
    monkeypatch.setenv("CONTINUUM_FLOWS_ALLOWED_HOSTS", "orders.example.com")
    settings = Settings()
    assert settings.flows_allowed_hosts == ("orders.example.com",)
    assert lookup_url(ROOT / "flows", settings).startswith(f"{ORDERS}/orders/")


def test_the_allow_list_still_applies_to_a_url_made_from_a_variable(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    (problem,) = problems_of(tmp_path / "flows", {"order_api": ORDERS})
    assert "order_status.yaml:58: steps.3.url: host 'orders.example.com' is not allow-listed" in (
        problem
    )


def test_a_reference_to_an_undeclared_variable_is_an_error_with_its_line(tmp_path: Path) -> None:
    folder = flow_folder(tmp_path, "Call {{ vars.phone_number }}")
    (problem,) = problems_of(folder)
    assert problem.startswith(f"{folder / 't.yaml'}:8: steps.0.template: ")
    assert "unknown variable vars.phone_number; declared: order_api" in problem


def test_a_variable_must_stand_on_its_own(tmp_path: Path) -> None:
    folder = flow_folder(tmp_path, "{{ vars.order_api | upper }}")
    (problem,) = problems_of(folder)
    assert "write {{ vars.name }} on its own" in problem
    assert load_flows(flow_folder(tmp_path, "no vars here, just the word 'vars'"))


def test_a_value_for_an_undeclared_variable_is_an_error(tmp_path: Path) -> None:
    folder = flow_folder(tmp_path, "hi")
    (problem,) = problems_of(folder, {"order_apl": ORDERS})
    assert "CONTINUUM_FLOWS_VARS: 'order_apl' is not declared in" in problem
    assert "(declared: order_api)" in problem


def test_a_url_variable_must_be_an_http_url(tmp_path: Path) -> None:
    folder = flow_folder(tmp_path, "hi")
    (problem,) = problems_of(folder, {"order_api": "orders.example.com/api"})
    assert problem == (
        "CONTINUUM_FLOWS_VARS order_api: 'orders.example.com/api' is not an http(s) URL with a host"
    )
    bad_default = VARS.replace('"{{ sandbox_url }}/_sandbox/api"', "ftp://x")
    (problem,) = problems_of(flow_folder(tmp_path, "hi", bad_default))
    assert problem.startswith(f"{tmp_path / 'vars.yaml'}:5: vars.order_api.default: 'ftp://x'")


def test_the_vars_file_is_validated_with_lines(tmp_path: Path) -> None:
    folder = flow_folder(tmp_path, "hi", VARS.replace("    kind: url", "    knd: url"))
    (problem,) = problems_of(folder)
    assert problem.startswith(f"{tmp_path / 'vars.yaml'}:4: vars.order_api.knd: ")
    assert "Extra inputs are not permitted" in problem


def test_a_variable_without_a_value_is_an_error(tmp_path: Path) -> None:
    folder = flow_folder(tmp_path, "hi", "vars:\n  secret_word: {kind: text}\n")
    (problem,) = problems_of(folder)
    assert problem == (
        f"{tmp_path / 'vars.yaml'}:2: vars.secret_word: no value: set it in "
        "CONTINUUM_FLOWS_VARS or give a default"
    )
    assert load_flows(folder, (), {"secret_word": "swordfish"})


def test_a_text_variable_is_replaced_in_any_string(tmp_path: Path) -> None:
    folder = flow_folder(tmp_path, "Call us on {{ vars.help_line }}", "vars:\n  help_line: {}\n")
    (flow,) = load_flows(folder, (), {"help_line": "+1 555 0100"}).flows
    step = flow.steps[0]
    assert isinstance(step, spec.SendStep)
    assert step.template == "Call us on +1 555 0100"


def test_a_value_is_literal_text_not_a_template(tmp_path: Path) -> None:
    folder = flow_folder(tmp_path, "Call {{ vars.help_line }}", "vars:\n  help_line: {}\n")
    (problem,) = problems_of(folder, {"help_line": "{{ customer.fields }}"})
    assert problem == (
        "CONTINUUM_FLOWS_VARS help_line: '{{ customer.fields }}': a value is literal (no template)"
    )
