"""Volume attach -> the test guest sees the disk, on a running cloud with Cinder (enable_cinder) and berth's test
guest (init-runonce).

    python bench/bench_attach.py [--config-dir /etc/berth] [--runs 5]

Boots one server of `berth-test-guest` on `demo-net` (waits for its marker), creates one 1 GiB volume, then
`--runs` times: attach it through the compute API and time until the guest's console shows its `BERTH-DISK`
line (the first run writes the marker, the others find it), then detach and time until the guest says the disk
is gone (and Nova and Cinder are done with the detach). Also reports attach -> Cinder `in-use`. Polls every 0.25 s. Medians. Removes the server and the volume
at the end. The console line is what the guest prints within a second of the disk appearing (it looks every
second), so the figure includes up to ~1 s of the guest's polling.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cloud_env import CloudEnv
from tests.e2e.guest_disks import console, detach, wait_disk_event


def connect(config_dir: Path) -> Any:
    return CloudEnv("bench", "", "", "", 0, 0, config_dir).sdk()


def boot(conn: Any) -> Any:
    image = conn.image.find_image("berth-test-guest", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    network = conn.network.find_network("demo-net", ignore_missing=False)
    server = conn.compute.create_server(name="bench-attach", image_id=image.id, flavor_id=flavor.id,
                                        networks=[{"uuid": network.id}])
    server = conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"], interval=1, wait=240)
    deadline = time.monotonic() + 180
    while "BERTH-TEST-GUEST-OK" not in console(conn, server.id):
        if time.monotonic() > deadline:
            raise SystemExit("the guest's marker never showed on its console")
        time.sleep(1)
    return server


def cycle(conn: Any, server: Any, volume: Any, seen: int) -> tuple[float, float, float, str]:
    """One attach and detach: (attach -> in-use, attach -> guest's line, detach -> guest's `gone`, what)."""
    start = time.monotonic()
    conn.compute.create_volume_attachment(server.id, volume.id)
    volume = conn.block_storage.get_volume(volume.id)
    conn.block_storage.wait_for_status(volume, "in-use", failures=["error"], interval=0.25, wait=180)
    in_use = time.monotonic() - start
    (_, what, _), _ = wait_disk_event(conn, server.id, seen, interval=0.25)
    sees = time.monotonic() - start
    start = time.monotonic()
    detach(conn, server.id, volume.id, interval=0.25)
    wait_disk_event(conn, server.id, seen + 1, interval=0.25)
    gone = time.monotonic() - start
    return in_use, sees, gone, what


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, default=Path("/etc/berth"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    conn = connect(args.config_dir)
    server = boot(conn)
    volume = conn.block_storage.create_volume(size=1, name="bench-attach")
    conn.block_storage.wait_for_status(volume, "available", failures=["error"], interval=0.25, wait=120)
    rows: list[tuple[float, float, float, str]] = []
    try:
        for run in range(args.runs):
            rows.append(cycle(conn, server, volume, 2 * run))
            in_use, sees, gone, what = rows[-1]
            print(f"run {run + 1}: attach -> in-use {in_use:.2f}s, -> guest sees the disk ({what}) {sees:.2f}s; "
                  f"detach -> done (guest saw it go, volume available) {gone:.2f}s", flush=True)
    finally:
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120)
        conn.block_storage.delete_volume(volume, ignore_missing=True)
    for label, index in (("attach -> in-use", 0), ("volume attach -> guest sees the disk", 1),
                         ("detach -> done (guest saw it go, volume available)", 2)):
        values = [row[index] for row in rows]
        print(f"{label}: median {statistics.median(values):.2f}s "
              f"({', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
