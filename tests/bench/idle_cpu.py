"""Idle CPU of a running ``continuum up``: its process tree (workers, embedded servers) sampled
from /proc over a window, in percent of one core.

    .venv/bin/python -m tests.bench.idle_cpu --pid "$(pgrep -o -f 'continuum up')" --seconds 30

Prints one line per process (name, pid, % of a core) and the total.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found += [int(c) for c in text.split()]
    return found


def _tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += _children(pid)
    return pids


def _ticks(pid: int) -> int | None:
    """utime + stime of ``pid``, or None once it has exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return int(fields[11]) + int(fields[12])


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:60]
    except FileNotFoundError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pid", type=int, required=True, help="pid of `continuum up`")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    hz = os.sysconf("SC_CLK_TCK")
    pids = _tree(args.pid)
    names = {pid: _name(pid) for pid in pids}
    before = {pid: _ticks(pid) for pid in pids}
    time.sleep(args.seconds)
    total = 0.0
    for pid in pids:
        start, end = before[pid], _ticks(pid)
        if start is None or end is None:  # a short-lived child (a PostgreSQL backend, say)
            print(f"{'gone':>7}  {pid:>7}  {names[pid]}")
            continue
        used = (end - start) / hz / args.seconds * 100
        total += used
        print(f"{used:6.2f}%  {pid:>7}  {names[pid]}")
    print(f"{total:6.2f}%  total over {args.seconds:.0f}s")


if __name__ == "__main__":
    main()
