"""A host's Docker engine stopped and started again (as at a reboot), on a 3-host `berth lab` cloud: how long until
the cloud answers again and until a running server is back.

    python bench/bench_engine_restart.py [--runs 3] [--reuse] [--keep]

The cloud is the multi-host e2e's (lab `e2e`, 203.0.113.128/25, registry on port 4020, Zed, linuxbridge: e2e1
control + network, e2e2 and e2e3 computes), made as tests/e2e/test_multihost_cloud.py makes it, with one test
server on e2e2. `--reuse` takes the cloud that module kept (`BERTH_E2E_KEEP=1`), `--keep` leaves it for the next
run. Each run stops and starts e2e2's engine (every container of the compute stops at once; the guest's qemu ends
with its libvirt container), then e2e1's (every API, the database, the queue, the network agents), and times from
the engine's start: the engine answering, every API answering (token, server show, network and image lists), the
server ACTIVE and answering ping from its router. Medians over the runs.

The lab hosts share this machine's kernel and CPUs (docs/lab.md): these are lab figures, measured on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from berth.cli.main import main
from berth.engine import connect
from berth.remote.lab import load_lab
from tests.e2e import engine_restart
from tests.e2e.migration import pinger
from tests.e2e.test_multihost_cloud import (
    CIDR,
    KEPT,
    NAME,
    PORT,
    Cloud,
    address_of,
    boot,
    push_images,
    remove_lab,
    write_config,
)
from tests.sandbox import wait_for


def make_cloud(root: Path) -> Cloud:
    """A fresh 3-host lab cloud with the admin credentials and init-runonce's networks (as the e2e module)."""
    main(["lab", "down", "--name", NAME])
    assert main(["lab", "up", "--hosts", "3", "--name", NAME, "--cidr", CIDR, "--registry-port", str(PORT)]) == 0
    shutil.rmtree(Path("/var/lib/berth") / NAME, ignore_errors=True)
    write_config(root, load_lab(NAME))
    cloud = Cloud(load_lab(NAME), root)
    cloud.refresh()
    push_images(cloud, connect())
    code, _data, elapsed, stderr = cloud.deploy()
    assert code == 0, stderr[-3000:]
    print(f"deploy over 3 hosts: {elapsed:.1f}s")
    assert cloud.berth("post-deploy").returncode == 0
    assert cloud.berth("init-runonce").returncode == 0
    return cloud


def server(cloud: Cloud) -> str:
    found = [s for s in cloud.openstack("server", "list") if s["Name"] == "e2e-bench"]
    if found:
        return str(found[0]["ID"])
    return str(boot(cloud, "e2e-bench", "demo-net", "e2e2")["id"])


def run(cloud: Cloud, runs: int) -> None:
    ident = server(cloud)
    shown = cloud.openstack("server", "show", ident)
    network_host = ["docker", "-H", f"unix://{cloud.host('e2e1').docker_socket}"]
    alive = pinger(cloud.text, address_of(shown), network_host, NAME)
    wait_for("the server answering ping", 180, alive)
    results: dict[str, list[engine_restart.Restart]] = {}
    for i in range(runs):
        for name in (shown["OS-EXT-SRV-ATTR:host"], "e2e1"):
            took = engine_restart.restart(cloud.host(name), cloud.client, ident, alive)
            print(f"run {i + 1}: {took.line()}", flush=True)
            results.setdefault(name, []).append(took)
    for name, items in results.items():
        stop, engine, answering, back = (statistics.median(getattr(t, f) for t in items)
                                         for f in ("stop", "engine", "cloud", "server"))
        print(f"median of {len(items)} ({name}): stop {stop:.1f}s; from the engine's start: engine {engine:.1f}s, "
              f"cloud answering {answering:.1f}s, server back {back:.1f}s")


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="the cloud tests/e2e kept (BERTH_E2E_KEEP=1)")
    parser.add_argument("--keep", action="store_true", help="leave the lab and its cloud for the next run")
    args = parser.parse_args()
    started = time.monotonic()
    root = KEPT if args.reuse else Path(tempfile.mkdtemp(prefix="bench-engine-restart-"))
    try:
        if args.reuse:
            cloud = Cloud(load_lab(NAME), root)
            cloud.refresh()
        else:
            cloud = make_cloud(root)
        run(cloud, args.runs)
    finally:
        if not args.keep:
            remove_lab(connect(), load_lab(NAME))
    print(f"bench took {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main_()
