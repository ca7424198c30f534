"""Run one benchmark suite on two checkouts, interleaved, in one time window.

    uv run python benchmarks/before_after.py --before /work/wt/before --after . \\
        sandbox_commands gateway_throughput

Each suite runs from its own checkout with that checkout's virtualenv
(`<tree>/.venv/bin/python -m benchmarks NAME`), so it measures that tree's
code; runs alternate before, after, after, before, ... so a change of machine
load over the window hits both sides alike. The 1-minute load average is
printed before every run (the machine may be shared). Each suite's own figures
are already ratios to a peer measured in the same run; compare those.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def _run(tree: Path, suite: str, label: str) -> None:
    load = os.getloadavg()
    print(
        f"\n##### {label}: {suite} from {tree} "
        f"(load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"{time.strftime('%H:%M:%S', time.gmtime())} UTC)",
        flush=True,
    )
    started = time.monotonic()
    done = subprocess.run(
        [str(tree / ".venv" / "bin" / "python"), "-m", "benchmarks", suite],
        cwd=tree,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        check=False,
    )
    print(f"##### {label}: {suite} exit {done.returncode} in {time.monotonic() - started:.0f} s")


def main() -> None:
    """Parse the trees and suites, then alternate the runs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout before the change")
    parser.add_argument("--after", type=Path, required=True, help="checkout after the change")
    parser.add_argument("--pairs", type=int, default=1, help="before/after pairs per suite")
    parser.add_argument("suites", nargs="+")
    args = parser.parse_args()
    for suite in args.suites:
        for i in range(args.pairs):
            order = [("before", args.before), ("after", args.after)]
            for label, tree in order if i % 2 == 0 else order[::-1]:
                _run(tree.resolve(), suite, label)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
