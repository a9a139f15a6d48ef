"""Top entries of a py-spy raw profile (``py-spy record -f raw``): own and inclusive samples.

    .venv/bin/python -m tests.bench.profile_top /tmp/up.txt --only orchestrator/cli.py

``--only`` keeps the stacks that contain a string (one process or thread of several).
"""

from __future__ import annotations

import argparse
from collections import Counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile")
    parser.add_argument("--only", default="", help="keep stacks containing this")
    parser.add_argument("--own", type=int, default=15, help="rows of own samples")
    parser.add_argument("--inclusive", type=int, default=40, help="rows of inclusive samples")
    args = parser.parse_args()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    with open(args.profile) as lines:
        for line in lines:
            stack, _, count = line.rstrip().rpartition(" ")
            if args.only not in stack:
                continue
            frames, n = stack.split(";"), int(count)
            total += n
            own[frames[-1]] += n
            inclusive.update(dict.fromkeys(set(frames), n))
    print(f"{total} samples")
    for title, counts, rows in (("own", own, args.own), ("inclusive", inclusive, args.inclusive)):
        print(f"-- {title}")
        for frame, n in counts.most_common(rows):
            print(f"{n * 100 / max(total, 1):5.1f}%  {frame}")


if __name__ == "__main__":
    main()
