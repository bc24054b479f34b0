"""Cinder on Ceph figures on this host: volume create -> available, and backup -> available.

    python bench/bench_cinder.py [--volumes 7] [--backups 3]

With the images built (cached), deployment `bcinder` on 127.0.0.64 (added to lo for the run; the integration
test's deployment, so never run both at once) with MariaDB, RabbitMQ, memcached, Keystone, Ceph and Cinder, config
and Ceph data in a temporary directory:
  deploy:   `berth deploy` from nothing (one storage host: a 2 GiB OSD file, pools of size 1);
  volume:   `--volumes` times, a 1 GiB volume created through openstacksdk until `available` (polled every 0.2 s):
            an RBD image made in the `volumes` pool by cinder-volume after the scheduler chose it; then deleted;
  backup:   `--backups` times, a backup of a 1 GiB volume until `available` (a full RBD copy into `backups`).
  memory:   each Ceph and Cinder container's memory (the engine's usage less inactive file cache, as `docker stats`
            shows it) 20 s after the deploy, before any volume exists, and again at the end.
Medians. Then `berth destroy --include-data`. 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from berth.cli.main import main
from berth.config.loader import load_config
from tests.sandbox import build_images, remove_deployment, sdk_client, write_config

DEPLOYMENT, ADDRESS, EPMD = "bcinder", "127.0.0.64", 4391
SERVICES = ("mariadb", "rabbitmq", "memcached", "keystone", "ceph", "cinder")


def connect(passwords: dict[str, Any]) -> Any:
    import openstack

    return openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username="admin", project_name="admin",
                             password=passwords["keystone_admin_password"], user_domain_name="Default",
                             project_domain_name="Default", region_name="RegionOne", identity_api_version="3",
                             load_yaml_config=False, load_envvars=False)


def volume_seconds(storage: Any) -> float:
    start = time.monotonic()
    volume = storage.create_volume(size=1, name="bench-cinder")
    storage.wait_for_status(volume, "available", failures=["error"], interval=0.2, wait=120)
    seconds = time.monotonic() - start
    storage.delete_volume(volume)
    storage.wait_for_delete(volume, interval=0.5, wait=120)
    return seconds


def backup_seconds(storage: Any, volume: Any) -> float:
    start = time.monotonic()
    backup = storage.create_backup(volume_id=volume.id, name="bench-cinder")
    storage.wait_for_status(backup, "available", failures=["error"], interval=0.2, wait=300)
    seconds = time.monotonic() - start
    storage.delete_backup(backup)
    storage.wait_for_delete(backup, interval=0.5, wait=120)
    return seconds


def wait_backup_service(storage: Any) -> None:
    """Until a backup can be scheduled: cinder-backup's first periodic report (docs/storage.md)."""
    volume = storage.create_volume(size=1, name="bench-cinder-probe")
    storage.wait_for_status(volume, "available", failures=["error"], interval=0.5, wait=120)
    time.sleep(20)
    storage.delete_volume(volume)
    storage.wait_for_delete(volume, interval=0.5, wait=120)


def storage_memory_mib() -> dict[str, float]:
    """MiB per Ceph and Cinder container (by key): usage less inactive file cache (cgroup v1 and v2 names)."""
    out = {}
    for container in sdk_client().containers.list(filters={"label": f"berth.deployment={DEPLOYMENT}"}):
        key = container.name.removeprefix(f"{DEPLOYMENT}-")
        if not key.startswith(("ceph_", "cinder_")) or "--" in key:
            continue
        memory = container.stats(stream=False)["memory_stats"]
        stats = memory.get("stats", {})
        inactive = stats.get("total_inactive_file", stats.get("inactive_file", 0))
        out[key] = (memory["usage"] - inactive) / 2 ** 20
    return dict(sorted(out.items()))


def run(root: Path, volumes: int, backups: int) -> dict[str, list[float]]:
    config = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=EPMD, services=SERVICES,
                          extra={"ceph_data_dir": str(root / "data"), "ceph_osd_size_gb": 2,
                                 "image_namespace": DEPLOYMENT})
    build_images(config, SERVICES)
    destroy = ["--quiet", "--config-dir", str(config), "destroy", "--yes-i-really-really-mean-it", "--include-data"]
    try:
        start = time.monotonic()
        if main(["--quiet", "--config-dir", str(config), "deploy", "--yes"]) != 0:
            raise SystemExit("deploy failed")
        out: dict[str, list[float]] = {"deploy": [time.monotonic() - start]}
        time.sleep(20)
        idle = storage_memory_mib()
        storage = connect(load_config(config).passwords).block_storage
        out["volume create -> available"] = [volume_seconds(storage) for _ in range(volumes)]
        wait_backup_service(storage)
        source = storage.create_volume(size=1, name="bench-cinder-source")
        storage.wait_for_status(source, "available", failures=["error"], interval=0.5, wait=120)
        out["backup -> available"] = [backup_seconds(storage, source) for _ in range(backups)]
        storage.delete_volume(source)
        storage.wait_for_delete(source, interval=0.5, wait=120)
        used = storage_memory_mib()
        for name, mib in idle.items():
            print(f"memory {name}: {mib:.0f} MiB idle, {used.get(name, float('nan')):.0f} MiB after the runs")
        for prefix in ("ceph_", "cinder_"):
            print(f"memory of the {prefix[:-1]} containers: "
                  f"{sum(v for k, v in idle.items() if k.startswith(prefix)):.0f} MiB idle, "
                  f"{sum(v for k, v in used.items() if k.startswith(prefix)):.0f} MiB after the runs")
        return out
    finally:
        main(destroy)
        remove_deployment(sdk_client(), DEPLOYMENT)


def main_bench() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--volumes", type=int, default=7)
    parser.add_argument("--backups", type=int, default=3)
    args = parser.parse_args()
    added = not subprocess.run(["ip", "-4", "-o", "addr", "show", "to", f"{ADDRESS}/32"],
                               capture_output=True, text=True, check=False).stdout.strip()
    if added:
        subprocess.run(["ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo"], check=True)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cinder-") as tmp:
            results = run(Path(tmp), args.volumes, args.backups)
    finally:
        if added:
            subprocess.run(["ip", "addr", "delete", f"{ADDRESS}/32", "dev", "lo"], check=False)
    for key, values in results.items():
        print(f"{key}: median {statistics.median(values):.2f}s ({', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main_bench()
