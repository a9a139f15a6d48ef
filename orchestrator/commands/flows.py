"""``continuum flows validate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestrator.engine.flowfile import load_flows
from orchestrator.errors import FlowError
from orchestrator.settings import Settings


def validate(settings: Settings, args: argparse.Namespace) -> int:
    """Print each problem as ``file:line: reason``; exit 2 if any."""
    folder = Path(args.folder) if args.folder else settings.flows_dir
    try:
        catalogue = load_flows(folder)
    except FlowError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    for flow in catalogue.flows:
        print(f"ok  {flow.id} v{flow.version}  ({flow.stage}, owner {flow.owner})")
    return 0
