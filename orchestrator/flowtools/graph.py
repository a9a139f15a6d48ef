"""A flow as a graph: its edges, and drawings of it as Mermaid text or a self-contained SVG.

:func:`edges` follows the engine's rules (``orchestrator/engine/steps/*.py``): a step without an
explicit ``next`` goes on to the following step in the file, except ``end`` (never) and
``split`` (always one of its branches). Lint and diff use the same edges.

Example::

    print(mermaid(catalogue.get("welcome")))
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from xml.sax.saxutils import escape

from orchestrator.engine import spec


@dataclass(frozen=True, slots=True)
class Edge:
    """From step ``source`` to step ``target``, taken when ``label`` happens ("" = plainly)."""

    source: str
    target: str
    label: str = ""


def edges(flow: spec.Flow) -> list[Edge]:
    """Every way the engine can move from one step of ``flow`` to another (each step says its
    own exits: :meth:`~orchestrator.engine.spec_base.StepBase.exits`)."""
    found: list[Edge] = []
    for step in flow.steps:
        following = step.next or flow.after(step.id)
        for label, target in step.exits(following):
            if target is not None:
                found.append(Edge(step.id, target, label))
    return found


def depths(flow: spec.Flow) -> dict[str, int]:
    """Breadth-first distance of each reachable step from the first step."""
    out = {flow.steps[0].id: 0}
    successors: dict[str, list[str]] = {}
    for edge in edges(flow):
        successors.setdefault(edge.source, []).append(edge.target)
    queue = deque([flow.steps[0].id])
    while queue:
        current = queue.popleft()
        for target in successors.get(current, []):
            if target not in out:
                out[target] = out[current] + 1
                queue.append(target)
    return out


def describe_trigger(flow: spec.Flow) -> str:
    """A one-line summary of what starts ``flow``."""
    t = flow.trigger
    match t:
        case spec.MessageTrigger():
            what = {
                "keyword": " ".join(t.words),
                "any_word": " ".join(t.words),
                "regex": t.pattern or "",
                "expression": t.when or "",
            }.get(t.match, "")
            return f"message {t.match} {what}".strip()
        case spec.EventTrigger():
            return f"event {t.name}"
        case spec.ScheduleTrigger():
            return f"schedule {t.cron} ({t.timezone})"
        case spec.StageTrigger():
            return f"stage {t.stage}"
        case spec.StatusTrigger():
            return f"status {', '.join(t.statuses)}"
        case spec.TimerTrigger():
            return f"timer {t.name}"


def shorten(text: str, limit: int = 40) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def edge_label(label: str, limit: int = 40) -> str:
    """An edge label cut to ``limit``; a switch case keeps its end, where cases differ."""
    number, sep, when = label.partition(": ")
    if not (label.startswith("case ") and sep):
        return shorten(label, limit)
    flat, room = " ".join(when.split()), limit - len(number) - 2
    return f"{number}: {flat if len(flat) <= room else '…' + flat[-(room - 1) :]}"


# ------------------------------------------------------------------------------- mermaid


_SHAPES = {"switch": '{{"{}"}}', "split": '{{"{}"}}', "end": '(["{}"])', "ask": '[/"{}"/]'}


def _mm(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;").replace("<", "#lt;")


def mermaid(flow: spec.Flow) -> str:
    """A Mermaid ``flowchart TD``: the trigger, one node per step, labelled edges."""
    node = {s.id: f"s{i}" for i, s in enumerate(flow.steps)}
    lines = ["flowchart TD", f'    trigger(["{_mm(shorten(describe_trigger(flow), 50))}"])']
    for step in flow.steps:
        label = f"{_mm(step.id)}<br/>{step.type}"
        lines.append(f"    {node[step.id]}" + _SHAPES.get(step.type, '["{}"]').format(label))
    lines.append(f"    trigger --> {node[flow.steps[0].id]}")
    for e in edges(flow):
        arrow = f'-->|"{_mm(edge_label(e.label))}"|' if e.label else "-->"
        lines.append(f"    {node[e.source]} {arrow} {node[e.target]}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------- svg

_W, _H, _GAP_X, _GAP_Y, _PAD = 170, 44, 40, 70, 30


def svg(flow: spec.Flow) -> str:
    """A self-contained SVG: steps in layers by distance from the first step, arrows between.

    Unreachable steps go in a last layer of their own. Arrows that go back up (loops) bend out
    to the right so that they do not cross the boxes they skip.
    """
    depth = depths(flow)
    last = max(depth.values()) + 1
    layers: dict[int, list[str]] = {}
    for step in flow.steps:
        layers.setdefault(depth.get(step.id, last), []).append(step.id)
    widest = max(len(ids) for ids in layers.values())
    width = _PAD * 2 + widest * (_W + _GAP_X) + 120
    pos: dict[str, tuple[float, float]] = {}
    for row, level in enumerate(sorted(layers)):
        ids = layers[level]
        offset = (width - len(ids) * (_W + _GAP_X) + _GAP_X) / 2
        for col, step_id in enumerate(ids):
            pos[step_id] = (offset + col * (_W + _GAP_X), _PAD + (row + 1) * (_H + _GAP_Y))
    height = _PAD * 2 + (len(layers) + 1) * (_H + _GAP_Y)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#555"/></marker></defs>',
        f"<title>{escape(flow.id)} v{flow.version}</title>",
    ]
    tx, ty = (width - _W) / 2, float(_PAD)
    out.append(_box(tx, ty, "trigger", shorten(describe_trigger(flow), 26), "#fdf3d8"))
    first = pos[flow.steps[0].id]
    out.append(_arrow((tx + _W / 2, ty + _H), (first[0] + _W / 2, first[1]), ""))
    for e in edges(flow):
        (sx, sy), (ex, ey) = pos[e.source], pos[e.target]
        out.append(_arrow((sx + _W / 2, sy + _H), (ex + _W / 2, ey), e.label, back=ey <= sy))
    for step in flow.steps:
        x, y = pos[step.id]
        fill = "#eeeeee" if step.id not in depth else "#e8f0fe"
        out.append(_box(x, y, step.id, step.type, fill))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _box(x: float, y: float, title: str, subtitle: str, fill: str) -> str:
    return (
        f'<g><rect x="{x:.0f}" y="{y:.0f}" width="{_W}" height="{_H}" rx="6" fill="{fill}" '
        f'stroke="#4a5a7a"/><text x="{x + _W / 2:.0f}" y="{y + 18:.0f}" text-anchor="middle" '
        f'font-weight="bold">{escape(shorten(title, 24))}</text><text x="{x + _W / 2:.0f}" '
        f'y="{y + 34:.0f}" text-anchor="middle" fill="#555">{escape(subtitle)}</text></g>'
    )


def _arrow(
    start: tuple[float, float], end: tuple[float, float], label: str, back: bool = False
) -> str:
    (x1, y1), (x2, y2) = start, end
    if back:  # bend out to the right of both boxes, then come back into the target's top
        bend = max(x1, x2) + _W / 2 + 50
        path = (
            f"M{x1:.0f},{y1:.0f} C{bend:.0f},{y1 + 40:.0f} {bend:.0f},{y2 - 40:.0f} "
            f"{x2:.0f},{y2:.0f}"
        )
        lx, ly = bend - 30, (y1 + y2) / 2
    else:
        path = (
            f"M{x1:.0f},{y1:.0f} C{x1:.0f},{y1 + 30:.0f} {x2:.0f},{y2 - 30:.0f} {x2:.0f},{y2:.0f}"
        )
        # near the target, where edges fanning out of one step are far enough apart to read
        lx, ly = 0.2 * x1 + 0.8 * x2, y2 - 0.3 * (y2 - y1)
    text = ""
    if label:
        text = (
            f'<text x="{lx:.0f}" y="{ly:.0f}" text-anchor="middle" fill="#333" font-size="10" '
            f'stroke="white" stroke-width="3" paint-order="stroke">'
            f"{escape(edge_label(label, 30))}</text>"
        )
    return f'<g><path d="{path}" fill="none" stroke="#555" marker-end="url(#arrow)"/>{text}</g>'
