"""A step type is one module: it registers once, owns its model and its run, never imports the
session, and every decision names itself."""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import pytest

from orchestrator.engine import decisions, spec
from orchestrator.engine.spec_base import StepBase
from orchestrator.engine.steps.registry import STEP_MODELS, STEP_TYPES

STEPS_DIR = Path(spec.__file__).parent / "steps"
STEP_FILES = sorted(p for p in STEPS_DIR.glob("*.py"))


@pytest.mark.parametrize("path", STEP_FILES, ids=lambda p: p.name)
def test_no_step_module_imports_the_session(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert "orchestrator.engine.session" not in imported


@pytest.mark.parametrize("model", STEP_MODELS, ids=lambda m: m.__name__)
def test_each_step_model_lives_in_its_own_module_and_runs(model: type[StepBase]) -> None:
    name = next(n for n, m in STEP_TYPES.items() if m is model)
    assert model.__module__ == f"orchestrator.engine.steps.{name}"
    assert model.run is not StepBase.run


def test_the_step_union_is_the_registry() -> None:
    union = typing.get_args(spec.Step)[0]
    assert typing.get_args(union) == STEP_MODELS


def test_every_decision_names_itself_once() -> None:
    kinds = [cls.kind for cls in typing.get_args(decisions.Decision)]
    assert len(set(kinds)) == len(kinds)
    assert all(k.islower() and " " not in k for k in kinds)
    assert all(dataclasses.is_dataclass(c) for c in typing.get_args(decisions.Decision))


@pytest.mark.parametrize(
    "name",
    [
        "SendStep",
        "AskStep",
        "SwitchStep",
        "SplitStep",
        "SetStep",
        "WaitStep",
        "CallStep",
        "RouteStep",
        "EmitStep",
        "SubflowStep",
        "EndStep",
        "MessageParts",
        "Category",
        "Case",
    ],
)
def test_the_models_that_lived_in_spec_are_still_there(name: str) -> None:
    model = getattr(spec, name)
    assert model.__module__.startswith("orchestrator.engine.steps.")
