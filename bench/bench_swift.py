"""Swift on the all-in-one: deploy time from built images, object PUT/GET throughput over loopback for 1 MiB and
100 MiB objects (median of several), and the idle memory of the Swift containers.

Runs its own deployment (`bswift` on 127.0.0.62, the address tests/integration/test_swift.py uses: never run both
at once) with MariaDB, Memcached, Keystone and Swift, images in the `bswift` namespace, and removes everything at
the end (containers, volumes, the data directory, the address).

    python bench/bench_swift.py [--small-runs 9] [--large-runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests
import yaml

from berth.cli.main import main as berth
from tests.sandbox import build_images, remove_deployment, sdk_client, write_config

DEPLOYMENT, ADDRESS = "bswift", "127.0.0.62"
SERVICES = ("mariadb", "memcached", "keystone", "swift")
IMAGES = ("mariadb", "memcached", "keystone", "swift-proxy", "swift-account", "swift-container", "swift-object")
MIB = 1024 * 1024


def connect(config_dir: Path) -> Any:
    import openstack

    passwords = yaml.safe_load((config_dir / "passwords.yml").read_text())
    return openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username="admin", project_name="admin",
                             password=passwords["keystone_admin_password"], user_domain_name="Default",
                             project_domain_name="Default", region_name="RegionOne", identity_api_version="3",
                             load_yaml_config=False, load_envvars=False)


def throughput(base: str, token: str, size: int, runs: int) -> tuple[list[float], list[float]]:
    """MiB/s of each PUT and each GET of a `size`-byte object (a new object name each run; bytes checked)."""
    data = os.urandom(size)
    session = requests.Session()
    session.headers["X-Auth-Token"] = token
    puts, gets = [], []
    for i in range(runs):
        url = f"{base}/bench/obj-{size}-{i}"
        start = time.monotonic()
        answer = session.put(url, data=data, timeout=600)
        puts.append(size / MIB / (time.monotonic() - start))
        answer.raise_for_status()
        start = time.monotonic()
        answer = session.get(url, timeout=600, stream=True)
        body = b"".join(answer.iter_content(MIB))  # requests' own .content reads 10 KiB at a time
        gets.append(size / MIB / (time.monotonic() - start))
        answer.raise_for_status()
        if body != data:
            raise SystemExit(f"GET {url}: the bytes differ")
        session.delete(url, timeout=60)
    return puts, gets


def figure(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} MiB/s median (runs: {', '.join(f'{v:.0f}' for v in values)})"


def idle_memory() -> float:
    """MiB of memory (usage less page cache) of the deployment's Swift containers."""
    total = 0
    for container in sdk_client().containers.list(filters={"label": [f"berth.deployment={DEPLOYMENT}",
                                                                      "berth.service=swift"]}):
        stats = container.stats(stream=False)["memory_stats"]
        cache = stats.get("stats", {}).get("total_inactive_file", stats.get("stats", {}).get("cache", 0))
        total += stats.get("usage", 0) - cache
    return total / MIB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small-runs", type=int, default=9)
    parser.add_argument("--large-runs", type=int, default=3)
    args = parser.parse_args()
    client = sdk_client()
    remove_deployment(client, DEPLOYMENT)
    subprocess.run(["ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo"], capture_output=True, check=False)
    root = Path(tempfile.mkdtemp(prefix="berth-bench-swift-"))
    try:
        config_dir = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4462, services=SERVICES,
                                  extra={"image_namespace": "bswift"})
        build_images(config_dir, IMAGES)
        start = time.monotonic()
        if berth(["--quiet", "--config-dir", str(config_dir), "deploy", "--yes"]) != 0:
            raise SystemExit("deploy failed")
        print(f"deploy (mariadb, memcached, keystone, swift): {time.monotonic() - start:6.1f} s", flush=True)
        conn = connect(config_dir)
        base = conn.object_store.get_endpoint()
        conn.object_store.create_container(name="bench")
        for size, runs in ((MIB, args.small_runs), (100 * MIB, args.large_runs)):
            puts, gets = throughput(base, conn.auth_token, size, runs)
            print(f"{size // MIB:4d} MiB PUT: {figure(puts)}", flush=True)
            print(f"{size // MIB:4d} MiB GET: {figure(gets)}", flush=True)
        conn.object_store.delete_container("bench")
        time.sleep(30)
        print(f"idle memory of the 14 swift containers: {idle_memory():6.0f} MiB")
    finally:
        remove_deployment(client, DEPLOYMENT)
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["ip", "addr", "delete", f"{ADDRESS}/32", "dev", "lo"], capture_output=True, check=False)


if __name__ == "__main__":
    main()
