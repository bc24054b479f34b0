"""The whole all-in-one cloud: deploy time from built images, server create -> ACTIVE, idle memory, main command.

Runs its own deployment (`berthbench` on 127.0.0.52, own Erlang ports, provider interface and VNI range) with
the default service set, and removes it at the end. Never run it next to another deployment with Neutron
(two linuxbridge agents on one host rewrite each other's iptables chains).

    python bench/bench_cloud.py [--deploys 3] [--servers 5] [--idle 180] [--aio] [--everything]

`--everything` enables every service the release deploys on one host (HAProxy/Keepalived aside: a VIP is a
many-host matter), builds their images first, and gives Ceph a small sparse OSD file: issue 16's figures (deploy
time and idle memory with everything enabled).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cloud_env import CloudEnv

GIB = 1024**3
# not deployed on one host by --everything: a VIP needs several hosts (docs/ha.md)
NOT_ON_ONE_HOST = {"haproxy", "keepalived"}


def everything(release: str, work: Path) -> dict[str, Any]:
    """globals.yml switches enabling every service folder that deploys `release` on one host."""
    from berth.services.registry import enable_key, service_meta, service_names

    values: dict[str, Any] = {}
    for name in service_names():
        meta = service_meta(name)
        if meta.get("containers") and name not in NOT_ON_ONE_HOST:
            values[enable_key(name)] = release in meta.get("releases", [release])
    return {**values, "glance_backend": "rbd", "nova_backend": "rbd", "ceph_osd_size_gb": 4,
            "ceph_data_dir": str(work / "ceph-data")}


def median_of(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}s (runs: {', '.join(f'{v:.1f}' for v in values)})"


def clean(env: CloudEnv) -> None:
    env.teardown(include_data=True)  # --everything: Ceph's OSD and monitor stores of this bench


def time_deploys(env: CloudEnv, runs: int) -> list[float]:
    """`berth deploy --yes` (prechecks included) of every enabled service, each time from no containers."""
    times = []
    for i in range(runs):
        clean(env)
        start = time.monotonic()
        env.berth("deploy", "--yes")
        times.append(time.monotonic() - start)
        print(f"  deploy {i + 1}/{runs}: {times[-1]:.1f}s", flush=True)
    return times


def time_servers(env: CloudEnv, runs: int) -> tuple[list[float], Any]:
    """Create -> ACTIVE of the test guest on demo-net (m1.tiny), one at a time; the last one keeps running."""
    conn = env.sdk()
    image = conn.image.find_image("berth-test-guest")
    flavor = conn.compute.find_flavor("m1.tiny")
    net = conn.network.find_network("demo-net")
    times = []
    server = None
    for i in range(runs):
        if server is not None:
            conn.compute.delete_server(server)
            conn.compute.wait_for_delete(server, wait=120)
        start = time.monotonic()
        server = conn.compute.create_server(name=f"bench-{i}", image_id=image.id, flavor_id=flavor.id,
                                            networks=[{"uuid": net.id}])
        while (status := conn.compute.get_server(server.id).status) not in ("ACTIVE", "ERROR"):
            time.sleep(0.25)
        if status == "ERROR":
            raise SystemExit(f"server bench-{i} went to ERROR")
        times.append(time.monotonic() - start)
        print(f"  server {i + 1}/{runs}: ACTIVE after {times[-1]:.1f}s", flush=True)
    return times, conn


def _bytes(text: str) -> float:
    units = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": GIB, "kB": 1000, "MB": 1000**2, "GB": 1000**3}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float(text)


def memory(env: CloudEnv) -> tuple[float, list[tuple[str, float]]]:
    """Sum of `docker stats --no-stream` memory (usage minus page cache) of the deployment's containers."""
    names = subprocess.run(["docker", "ps", "--filter", f"label=berth.deployment={env.deployment}",
                            "--format", "{{.Names}}"], capture_output=True, text=True, check=True).stdout.split()
    out = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{json .}}", *names],
                         capture_output=True, text=True, check=True).stdout
    rows = [(row["Name"], _bytes(row["MemUsage"].split("/")[0].strip()))
            for row in (json.loads(line) for line in out.splitlines())]
    rows.sort(key=lambda r: r[1], reverse=True)
    return sum(b for _, b in rows), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=3)
    parser.add_argument("--servers", type=int, default=5)
    parser.add_argument("--idle", type=int, default=180, help="seconds idle before measuring memory")
    parser.add_argument("--aio", action="store_true", help="also time scripts/aio.sh from no containers")
    parser.add_argument("--everything", action="store_true", help="every service the release deploys on one host")
    parser.add_argument("--release", default="epoxy", help="with --everything: the OpenStack release")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="berth-bench-cloud-"))
    env = CloudEnv("berthbench", "127.0.0.52", "berthbn-ext0", "8101:8200", 4452, 25752, work / "config")
    extra = {"openstack_release": args.release, **everything(args.release, work)} if args.everything else {}
    env.write_globals(extra)
    what = "every service" if args.everything else "the default service set"
    results: dict[str, str] = {}
    try:
        env.berth("genpwd")
        if args.everything:
            enabled = sorted(k.removeprefix("enable_") for k, v in extra.items() if k.startswith("enable_") and v)
            print(f"services: {' '.join(enabled)}\nbuilding their images (cached ones are kept) ...", flush=True)
            env.berth("build")
        print(f"deploy of {what} from built images, from no containers:", flush=True)
        deploys = time_deploys(env, args.deploys)
        results[f"deploy ({what}, from no containers)"] = median_of(deploys)
        env.berth("post-deploy")
        env.berth("init-runonce")
        servers, conn = time_servers(env, args.servers)
        results["server create -> ACTIVE"] = median_of(servers)
        print(f"idle for {args.idle}s with one server running ...", flush=True)
        time.sleep(args.idle)
        total, rows = memory(env)
        results["idle memory of all containers"] = f"{total / GIB:.2f} GiB ({len(rows)} containers)"
        results["biggest"] = ", ".join(f"{n.removeprefix(env.deployment + '-')} {b / 1024**2:.0f} MiB"
                                       for n, b in rows[:8])
        conn.close()
        if args.aio:
            clean(env)
            rc, seconds, _out = env.aio(work / "aio.log")
            results["scripts/aio.sh, images present, from no containers to a booted test VM"] = (
                f"{seconds:.1f}s" if rc == 0 else f"failed (exit {rc}, see {work / 'aio.log'})")
    finally:
        clean(env)
    print()
    for key, value in results.items():
        print(f"{key:75} {value}")


if __name__ == "__main__":
    main()
