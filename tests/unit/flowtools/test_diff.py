"""``flows diff``: meaning, not text: formatting is ignored; versions, steps and edges are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.flowtools.diff import diff_flows, load_side
from tests.unit.flowtools.helpers import HOSTS

OLD = """\
spec_version: 1
id: t
version: 1
stage: support
owner: qa
trigger: {type: message, match: keyword, words: [GO]}
steps:
  - {id: hi, type: send, purpose: service, template: "Hello"}
  - {id: wait, type: wait, duration: 24h}
  - {id: done, type: end}
"""

# The same flow, written differently: block style, other key order, ISO duration, a comment.
SAME = """\
# a comment
id: t
spec_version: 1
owner: qa
stage: support
version: 1
trigger:
  words: [GO]
  match: keyword
  type: message
steps:
  - template: Hello
    purpose: service
    type: send
    id: hi
  - {type: wait, id: wait, duration: PT24H}
  - {id: done, type: end}
"""

NEW = """\
spec_version: 1
id: t
version: 2
stage: support
owner: qa
trigger: {type: message, match: keyword, words: [GO, START]}
steps:
  - {id: hi, type: send, purpose: service, template: "Hello there"}
  - {id: wait, type: wait, duration: 24h}
  - {id: bye, type: send, purpose: service, template: "Bye"}
  - {id: done, type: end}
"""


def _side(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_identical_meaning_is_no_difference(tmp_path: Path) -> None:
    a = load_side(_side(tmp_path, "a.yaml", OLD), HOSTS)
    b = load_side(_side(tmp_path, "b.yaml", SAME), HOSTS)
    assert diff_flows(a, b) == []


def test_version_template_step_and_edges(tmp_path: Path) -> None:
    a = load_side(_side(tmp_path, "a.yaml", OLD), HOSTS)
    b = load_side(_side(tmp_path, "b.yaml", NEW), HOSTS)
    assert diff_flows(a, b) == [
        "flow t: changed",
        "  version: 1 → 2",
        '  trigger: words: ["GO"] → ["GO","START"]',
        "  step added: bye (send)",
        "  step hi: template: 'Hello' → 'Hello there'",
        "  edge added: wait -> bye",
        "  edge added: bye -> done",
        "  edge removed: wait -> done",
    ]


def test_flows_added_and_removed_between_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _side(tmp_path / "a", "t.yaml", OLD)
    _side(tmp_path / "b", "u.yaml", OLD.replace("id: t", "id: u"))
    a, b = load_side(tmp_path / "a", HOSTS), load_side(tmp_path / "b", HOSTS)
    assert diff_flows(a, b) == ["flow t: removed (was v1)", "flow u: added (v1, 3 steps)"]


def test_cli_exit_statuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _side(tmp_path, "a.yaml", OLD), _side(tmp_path, "b.yaml", SAME)
    c = _side(tmp_path, "c.yaml", NEW)
    assert main(["flows", "diff", str(a), str(b)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["flows", "diff", str(a), str(c)]) == 1
    assert "step added: bye (send)" in capsys.readouterr().out
    bad = _side(tmp_path, "bad.yaml", OLD.replace("version: 1", "version: 0"))
    assert main(["flows", "diff", str(a), str(bad)]) == 2
    assert "bad.yaml" in capsys.readouterr().err
    assert main(["flows", "diff", str(a), str(tmp_path / "missing.yaml")]) == 2
