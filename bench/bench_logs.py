"""Central logs benchmark: a service's log line -> searchable with `berth logs --all`, and the search itself.

    python bench/bench_logs.py [--runs 7] [--lines 200000]

Deploys MariaDB, logrotate and central logging (own deployment `blogsbench` on 127.0.0.74, temporary config dir),
then `--runs` times: MariaDB refuses a login with a fresh marker user name (MariaDB logs it) and the time until
`berth logs --all --grep MARKER` finds it is measured. Then `--lines` lines are appended to MariaDB's log (as the
service would), the time until all of them are in the store is measured (forwarding throughput), and a
`--grep` over the whole store is timed. Prints medians; everything is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from berth.cli.main import main
from tests.sandbox import deployed

DEPLOYMENT = "blogsbench"
ADDRESS = "127.0.0.74"
SERVICES = ("mariadb", "logrotate", "central-logging")


def found(config_dir: Path, pattern: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--quiet", "--config-dir", str(config_dir), "logs", "--all", "--grep", pattern]) == 0
    return out.getvalue()


def refused_login(user: str) -> None:
    subprocess.run(["docker", "exec", f"{DEPLOYMENT}-mariadb", "mariadb", "-h", ADDRESS, "-u", user, "-pwrong",
                    "-e", "select 1"], check=False, capture_output=True, timeout=60)


def until(what: str, probe: object, timeout: float = 120) -> float:
    start = time.monotonic()
    while not probe():  # type: ignore[operator]
        if time.monotonic() - start > timeout:
            raise SystemExit(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.05)
    return time.monotonic() - start


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--lines", type=int, default=200000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as tmp:
        root = Path(tmp)
        # rotation by the default size (50 MiB): the throughput run stays in one file
        with deployed(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4400, services=SERVICES,
                      extra={"central_logging_port": 5142}) as config_dir:
            delays = []
            for _ in range(args.runs):
                marker = f"bench{uuid.uuid4().hex[:10]}"
                start = time.monotonic()
                refused_login(marker)
                until(marker, lambda m=marker: m in found(config_dir, m))
                delays.append(time.monotonic() - start)
            store = root / "log" / "central-logging" / "hosts" / "localhost" / "mariadb.log"
            tag = f"bulk{uuid.uuid4().hex[:8]}"
            text = "".join(f"{tag} line {n:07d} {'y' * 80}\n" for n in range(args.lines))
            start = time.monotonic()
            subprocess.run(["docker", "exec", "-i", f"{DEPLOYMENT}-mariadb", "sh", "-c",
                            "cat >> /var/log/berth/mariadb/mariadb.log"], input=text, text=True, check=True)
            last = f"{tag} line {args.lines - 1:07d}"
            until("the last bulk line in the store", lambda: last in store.read_text(errors="replace"), 600)
            bulk = time.monotonic() - start
            searches = []
            for _ in range(3):
                start = time.monotonic()
                found(config_dir, f"{tag} line 0000000")
                searches.append(time.monotonic() - start)
            size = store.stat().st_size
    print(f"log line -> searchable centrally: median {statistics.median(delays):.2f}s "
          f"(runs: {', '.join(f'{d:.2f}' for d in delays)})")
    print(f"forwarding {args.lines} lines ({len(text) / 2**20:.1f} MiB) into the store: {bulk:.1f}s "
          f"({args.lines / bulk:.0f} lines/s)")
    print(f"berth logs --all --grep over the store ({size / 2**20:.1f} MiB): median "
          f"{statistics.median(searches):.2f}s")


if __name__ == "__main__":
    main_bench()
