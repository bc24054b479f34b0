"""Server create -> ACTIVE with Nova's disks on RBD (`nova_backend: rbd`, cloned from Glance's image in Ceph) and
as local files (`nova_backend: local`, the image downloaded from Glance into the instances volume and cached).

Runs its own all-in-one cloud (`berthbench` on 127.0.0.52, like bench_cloud.py) with Ceph and Glance on RBD,
then switches Nova's back end with `berth reconfigure nova` between rounds (rbd, local, rbd, local, ...), so both
are measured on the same cloud under the same load; each server is deleted before the next one is made. Removes
the deployment (and its Ceph data) at the end. Never run it next to another deployment with Neutron.

    python bench/bench_nova_backend.py [--rounds 2] [--servers 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cloud_env import CloudEnv

# Heat and Horizon play no part in a server's boot: left out, the cloud deploys sooner
GLOBALS = {"enable_ceph": True, "glance_backend": "rbd", "ceph_osd_size_gb": 4, "enable_heat": False,
           "enable_horizon": False}


def create(conn: Any, name: str) -> float:
    """Seconds from the create call to ACTIVE for one server of the test guest; the server is then deleted."""
    image = conn.image.find_image("berth-test-guest", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    net = conn.network.find_network("demo-net", ignore_missing=False)
    start = time.monotonic()
    server = conn.compute.create_server(name=name, image_id=image.id, flavor_id=flavor.id,
                                        networks=[{"uuid": net.id}])
    while (status := conn.compute.get_server(server.id).status) not in ("ACTIVE", "ERROR"):
        time.sleep(0.25)
    seconds = time.monotonic() - start
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=120)
    if status == "ERROR":
        raise SystemExit(f"server {name} went to ERROR")
    return seconds


def switch(env: CloudEnv, work: Path, backend: str) -> None:
    """globals.yml's nova_backend, applied by `berth reconfigure nova` (nova_compute re-made with it)."""
    env.write_globals({**GLOBALS, "ceph_data_dir": str(work / "ceph-data"), "nova_backend": backend})
    start = time.monotonic()
    env.berth("reconfigure", "--yes", "nova")
    print(f"  reconfigure nova -> nova_backend {backend}: {time.monotonic() - start:.1f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--servers", type=int, default=3, help="servers per back end and round")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="berth-bench-nova-backend-"))
    env = CloudEnv("berthbench", "127.0.0.52", "berthbn-ext0", "8101:8200", 4452, 25752, work / "config")
    env.write_globals({**GLOBALS, "ceph_data_dir": str(work / "ceph-data"), "nova_backend": "rbd"})
    times: dict[str, list[float]] = {"rbd": [], "local": []}
    try:
        rc, seconds, out = env.aio(work / "aio.log")
        if rc != 0:
            raise SystemExit(f"scripts/aio.sh failed (exit {rc}):\n{out[-3000:]}")
        print(f"scripts/aio.sh (Ceph, Glance and Nova on RBD): {seconds:.1f}s", flush=True)
        conn = env.sdk()
        for server in list(conn.compute.servers()):  # aio.sh's test server: nothing spans a switch
            conn.compute.delete_server(server)
            conn.compute.wait_for_delete(server, wait=120)
        for round_ in range(args.rounds):
            for backend in ("rbd", "local"):
                if (round_, backend) != (0, "rbd"):
                    switch(env, work, backend)
                conn = env.sdk()
                for i in range(args.servers):
                    times[backend].append(create(conn, f"bench-{backend}-{round_}-{i}"))
                    print(f"  {backend}: ACTIVE after {times[backend][-1]:.1f}s", flush=True)
                conn.close()
    finally:
        env.teardown(include_data=True)
    print()
    for backend, values in times.items():
        if values:
            runs = ", ".join(f"{v:.1f}" for v in values)
            print(f"server create -> ACTIVE, nova_backend {backend:5}  median {statistics.median(values):.1f}s "
                  f"(runs: {runs})")


if __name__ == "__main__":
    main()
