"""Every step type, by the name flow files use: one line per type.

A step module holds its model (a :class:`~orchestrator.engine.spec_base.StepBase` with
``type: Literal["<name>"]``), its ``run`` and, when it waits, its ``on_*`` methods. The flow
language's ``Step`` union (:mod:`orchestrator.engine.spec`), the engine's dispatch, the loader's
error locations, the JSON Schema and the golden tests are all built from this tuple.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import get_args

from orchestrator.engine.spec_base import StepBase
from orchestrator.engine.steps import (
    ask,
    call,
    emit,
    end,
    route,
    send,
    split,
    subflow,
    switch,
    tag,
    wait,
)
from orchestrator.engine.steps import set as set_

STEP_MODELS: tuple[type[StepBase], ...] = (
    send.SendStep,
    ask.AskStep,
    switch.SwitchStep,
    split.SplitStep,
    set_.SetStep,
    wait.WaitStep,
    call.CallStep,
    route.RouteStep,
    emit.EmitStep,
    subflow.SubflowStep,
    end.EndStep,
    tag.TagStep,
)


def step_type(model: type[StepBase]) -> str:
    """The name a step model answers to (its ``type`` literal)."""
    (name,) = get_args(model.model_fields["type"].annotation)
    return str(name)


STEP_TYPES: Mapping[str, type[StepBase]] = {step_type(m): m for m in STEP_MODELS}
"""Every step model by its type name (checked against the spec by a test)."""
