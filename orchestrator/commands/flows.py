"""``continuum flows ...``: validate, test and inspect flow files, with no server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.flowfile import load_flows
from orchestrator.engine.spec import Flow
from orchestrator.errors import FlowError
from orchestrator.flowtools.testing import TestFileError, coverage, run_file
from orchestrator.settings import Settings

EXIT_FAILED = 1
EXIT_USAGE = 2


def folder_of(settings: Settings, args: argparse.Namespace) -> Path:
    """The flows folder: ``--flows``/positional, else ``CONTINUUM_FLOWS_DIR``."""
    given = getattr(args, "folder", None) or getattr(args, "flows", None)
    return Path(given) if given else settings.flows_dir


def load(settings: Settings, folder: Path) -> Catalogue | None:
    """The catalogue, or ``None`` after printing every problem as ``file:line: reason``."""
    try:
        return load_flows(folder, settings.flows_allowed_hosts)
    except FlowError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def validate(settings: Settings, args: argparse.Namespace) -> int:
    """Schema, references, expressions; exit 2 on any problem."""
    catalogue = load(settings, folder_of(settings, args))
    if catalogue is None:
        return EXIT_USAGE
    for flow in catalogue.flows:
        print(
            f"ok  {flow.id} v{flow.version}  ({flow.stage}, owner {flow.owner}, "
            f"trigger {flow.trigger.type}, {len(flow.steps)} steps)"
        )
    return 0


def test(settings: Settings, args: argparse.Namespace) -> int:
    """Run conversation tests; print failures and step coverage; exit 1 if any fails."""
    catalogue = load(settings, folder_of(settings, args))
    if catalogue is None:
        return EXIT_USAGE
    files = (
        sorted(Path(args.tests).glob("*.yaml")) if Path(args.tests).is_dir() else [Path(args.tests)]
    )
    if not files:
        print(f"continuum: no test files in {args.tests}", file=sys.stderr)
        return EXIT_USAGE
    results = []
    try:
        for path in files:
            results.extend(run_file(path, catalogue))
    except TestFileError as exc:
        print(f"continuum: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for r in results:
        print(f"{'PASS' if r.passed else 'FAIL'}  {r.flow}: {r.name}")
        for failure in r.failures:
            print(f"      {failure}")
    print()
    for flow_id, (seen, total, missing) in coverage(catalogue, results).items():
        gap = f"  not covered: {', '.join(missing)}" if missing else ""
        print(f"coverage  {flow_id}: {seen}/{total} steps ({100 * seen // total}%){gap}")
    failed = sum(not r.passed for r in results)
    print(f"\n{len(results) - failed} passed, {failed} failed")
    return EXIT_FAILED if failed else 0


def schema(settings: Settings, args: argparse.Namespace) -> int:
    """Print the flow file JSON Schema (for editors' autocompletion)."""
    doc = Flow.model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "Continuum flow"
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
