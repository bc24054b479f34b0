"""Ceph deploy figures on this host: a cluster from nothing, and one on kept data.

    python bench/bench_ceph.py [--runs 3]

Per run, with the `ceph` image built (cached), deployment `bcephb` on 127.0.0.63 (added to lo for the run),
config and data in a temporary directory:
  cold:    `berth deploy` of an empty data directory: the monitor's store made, the manager keyed, the OSD
           registered and its 5 GiB BlueStore file made by mkfs, then pools and client keys. Also the seconds from
           the deploy's start until the OSD is up (its health check, run twice a second: state `active`).
  warm:    `berth destroy` (data kept), then `berth deploy` again: the same cluster starts on its kept stores.
Then `berth destroy --include-data`. Medians of `--runs`. 2 cores, one storage host (size 1).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from berth.cli.main import main
from tests.sandbox import build_images, remove_deployment, sdk_client, write_config

DEPLOYMENT, ADDRESS = "bcephb", "127.0.0.63"
HEALTH = ["/bin/sh", "/etc/ceph/berth-ceph-health.sh", "osd"]


def osd_up_after(start: float, done: threading.Event, found: list[float]) -> None:
    """Ask the OSD container's own health check (its state on the admin socket is `active`: the monitors marked it
    up) twice a second; record the seconds since `start` when it first answers yes."""
    client = sdk_client()
    while not done.is_set():
        for c in client.containers.list(filters={"label": f"berth.deployment={DEPLOYMENT}"}):
            if c.name.endswith("ceph_osd") and c.exec_run(HEALTH).exit_code == 0:
                found.append(time.monotonic() - start)
                return
        time.sleep(0.5)


def timed_deploy(config: Path) -> tuple[float, float]:
    found: list[float] = []
    done = threading.Event()
    start = time.monotonic()
    watcher = threading.Thread(target=osd_up_after, args=(start, done, found), daemon=True)
    watcher.start()
    if main(["--quiet", "--config-dir", str(config), "deploy", "--yes"]) != 0:
        raise SystemExit("deploy failed")
    seconds = time.monotonic() - start
    watcher.join(timeout=30)
    done.set()
    return seconds, found[0] if found else float("nan")


def one_run(root: Path) -> dict[str, float]:
    config = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4463, services=("ceph",),
                          extra={"ceph_data_dir": str(root / "data")})
    build_images(config, ("ceph",))
    destroy = ["--quiet", "--config-dir", str(config), "destroy", "--yes-i-really-really-mean-it"]
    try:
        cold, osd_up = timed_deploy(config)
        main(destroy)
        warm, _ = timed_deploy(config)
    finally:
        main([*destroy, "--include-data"])
        remove_deployment(sdk_client(), DEPLOYMENT)
    return {"cold deploy": cold, "OSD up (from deploy start)": osd_up, "deploy on kept data": warm}


def main_bench() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    added = not subprocess.run(["ip", "-4", "-o", "addr", "show", "to", f"{ADDRESS}/32"],
                               capture_output=True, text=True, check=False).stdout.strip()
    if added:
        subprocess.run(["ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo"], check=True)
    results: list[dict[str, float]] = []
    try:
        for number in range(runs):
            with tempfile.TemporaryDirectory(prefix="bench-ceph-") as tmp:
                results.append(one_run(Path(tmp)))
            print(f"run {number + 1}: " + ", ".join(f"{k} {v:.1f}s" for k, v in results[-1].items()), flush=True)
    finally:
        if added:
            subprocess.run(["ip", "addr", "delete", f"{ADDRESS}/32", "dev", "lo"], check=False)
    for key in results[0]:
        values = [r[key] for r in results]
        print(f"{key}: median {statistics.median(values):.1f}s ({', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    main_bench()
