"""Small flows written to a temporary folder and loaded the way the commands load them."""

from __future__ import annotations

from pathlib import Path

from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.spec import Flow
from orchestrator.flowfiles import load_flows

HOSTS = ["127.0.0.1:8090"]
ROOT = Path(__file__).resolve().parents[3]


def flow_yaml(steps: str, *, stage: str = "support", trigger: str = "", head: str = "") -> str:
    """A flow document around ``steps`` (a YAML list, indented by two spaces)."""
    trigger = trigger or "{type: message, match: keyword, words: [GO]}"
    return (
        f"spec_version: 1\nid: t\nversion: 1\nstage: {stage}\nowner: qa\n{head}"
        f"trigger: {trigger}\nsteps:\n{steps}"
    )


def load(tmp_path: Path, text: str, name: str = "t.yaml") -> Catalogue:
    """Write ``text`` as one flow file in ``tmp_path`` and load the folder."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    return load_flows(tmp_path, HOSTS)


def one(tmp_path: Path, text: str) -> Flow:
    """The only flow of ``text``."""
    return load(tmp_path, text).flows[0]
