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


def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _name(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:60]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pid", type=int, required=True, help="pid of `continuum up`")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    hz = os.sysconf("SC_CLK_TCK")
    pids = _tree(args.pid)
    before = {pid: _ticks(pid) for pid in pids}
    time.sleep(args.seconds)
    total = 0.0
    for pid in pids:
        used = (_ticks(pid) - before[pid]) / hz / args.seconds * 100
        total += used
        print(f"{used:6.2f}%  {pid:>7}  {_name(pid)}")
    print(f"{total:6.2f}%  total over {args.seconds:.0f}s")


if __name__ == "__main__":
    main()
