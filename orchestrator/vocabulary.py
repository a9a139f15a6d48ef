"""The words every layer shares, each declared once: message purposes and lifecycle stages (the
media are in :mod:`orchestrator.media`, durations in :mod:`orchestrator.durations`).

The contact policy, the flow engine and the workers all import these from here, so that the
policy never needs the engine for its vocabulary (``tests/unit/test_layers.py``).
"""

from __future__ import annotations

from typing import Literal, get_args

Purpose = Literal["transactional", "service", "marketing"]
"""Why a message is sent: what consent it needs and which quiet hours hold it."""
PURPOSES: tuple[str, ...] = get_args(Purpose)

Stage = Literal[
    "awareness", "consideration", "purchase", "onboarding", "support", "renewal", "win-back"
]
"""The customer lifecycle stage a flow (and each of its touchpoints) belongs to."""
STAGES: tuple[str, ...] = get_args(Stage)
