"""Figures for `berth verify`: the smoke run's duration and counts, and the lean API run CI uses, on a deployed cloud.

Run: .venv/bin/python bench/bench_verify.py --config-dir DIR [--runs N] [--skip-smoke] [--skip-lean]
DIR is a deployed, initialised cloud's configuration directory (scripts/aio.sh made it). Each run is the real CLI
(`berth verify ... --json`); medians over N runs. Nothing is deployed or removed here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.verify_checks import CI_REGEX


def verify(config_dir: Path, *selection: str) -> tuple[float, dict[str, Any], int]:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "berth", "--config-dir", str(config_dir), "verify", *selection,
                           "--json"], capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    try:
        summary = json.loads(proc.stdout)
    except ValueError:
        raise SystemExit(f"berth verify {' '.join(selection)} failed (exit {proc.returncode}):\n"
                         f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}") from None
    return wall, summary, proc.returncode


def measure(label: str, config_dir: Path, runs: int, *selection: str) -> None:
    walls: list[float] = []
    for index in range(runs):
        wall, summary, code = verify(config_dir, *selection)
        walls.append(wall)
        print(f"{label} run {index + 1}: {wall:6.1f} s wall (tempest {summary['seconds']:.0f} s), exit {code}: "
              f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped")
        for failure in summary["failures"]:
            print(f"    FAILED {failure['id']}: {failure['reason'].splitlines()[-1:]}")
    print(f"{label}: {statistics.median(walls):6.1f} s median over {runs} ({', '.join(f'{w:.0f}' for w in walls)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config-dir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-smoke", action="store_true")
    parser.add_argument("--skip-lean", action="store_true")
    args = parser.parse_args()
    if not args.skip_smoke:
        measure("verify --smoke", args.config_dir, args.runs, "--smoke")
    if not args.skip_lean:
        measure("verify --regex (CI)", args.config_dir, args.runs, "--regex", CI_REGEX)


if __name__ == "__main__":
    main()
