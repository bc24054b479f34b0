"""Designate with BIND 9 figures on this host: the deploy of Designate, and record created -> `dig` answers.

    python bench/bench_designate.py [--runs 3] [--records 3] [--serial-interval 5]

With the images built (cached), deployment `bdns` on 127.0.0.66 (added to lo for the run; the integration test's
deployment, so never run both at once), config and state in a temporary directory. Each of `--runs` runs:
  MariaDB, RabbitMQ, memcached and Keystone deployed from nothing (not timed), then
  deploy:   `berth deploy` with Designate enabled, timed: its database, db-sync, the five Designate containers
            and BIND 9 each until healthy, the Keystone registration and the pool update (a cold Designate
            on a running control plane);
  record:   `--records` times, an A record created through openstacksdk in a zone made once per run, until
            `dig @127.0.0.66 -p <port> NAME A +short` on this host answers its address (polled every 0.1 s);
            what bounds it: designate-producer bumps a changed zone's serial every `--serial-interval` s
            (`designate_serial_interval`, default 5 as Designate's own), then designate-worker runs `rndc
            showzone/modzone`, NOTIFYs BIND, and BIND transfers the zone from designate-mdns;
  then `berth destroy`. Medians over every run. 2 cores, shared.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from berth.cli.main import main
from berth.config.loader import load_config
from tests.sandbox import build_images, remove_deployment, sdk_client, write_config

DEPLOYMENT, ADDRESS, EPMD = "bdns", "127.0.0.66", 4392
BASE = ("mariadb", "rabbitmq", "memcached", "keystone")
SERVICES = (*BASE, "designate")
ZONE = "bench-dns.test."


def connect(passwords: dict[str, Any]) -> Any:
    import openstack

    return openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username="admin", project_name="admin",
                             password=passwords["keystone_admin_password"], user_domain_name="Default",
                             project_domain_name="Default", region_name="RegionOne", identity_api_version="3",
                             load_yaml_config=False, load_envvars=False)


def dns_port() -> int:
    """53 when nothing else binds it on ADDRESS (UDP and TCP), else 10053 (as the integration test)."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((ADDRESS, 53))
            except OSError:
                return 10053
    return 53


def dig(port: int, name: str) -> str:
    return subprocess.run(["dig", f"@{ADDRESS}", "-p", str(port), name, "A", "+short", "+time=1", "+tries=1"],
                          capture_output=True, text=True, check=False, timeout=10).stdout.strip()


def wait(what: str, timeout: float, probe: Any, interval: float) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)


def set_designate(config: Path, enabled: bool) -> None:
    path = config / "globals.yml"
    values = yaml.safe_load(path.read_text())
    values["enable_designate"] = enabled
    path.write_text(yaml.safe_dump(values, sort_keys=False))


def deploy(config: Path) -> float:
    start = time.monotonic()
    if main(["--quiet", "--config-dir", str(config), "deploy", "--yes"]) != 0:
        raise SystemExit("deploy failed")
    return time.monotonic() - start


def record_seconds(dns: Any, zone: Any, port: int, index: int) -> float:
    name, address = f"r{index}.{ZONE}", f"192.0.2.{100 + index}"  # TEST-NET-1: only ever an answer
    start = time.monotonic()
    dns.create_recordset(zone, name=name, type="A", records=[address], ttl=60)
    wait(f"{name} answered", 120, lambda: dig(port, name) == address, 0.1)
    return time.monotonic() - start


def one_run(config: Path, port: int, records: int, out: dict[str, list[float]]) -> None:
    set_designate(config, False)
    deploy(config)
    set_designate(config, True)
    out["designate deploy"].append(deploy(config))
    dns = connect(load_config(config).passwords).dns
    zone = dns.create_zone(name=ZONE, email=f"hostmaster@{ZONE.rstrip('.')}", ttl=60)
    wait("zone ACTIVE", 120, lambda: dns.get_zone(zone).status == "ACTIVE", 0.5)
    base = len(out["record created -> dig answers"])
    for index in range(records):
        out["record created -> dig answers"].append(record_seconds(dns, zone, port, base + index))
    dns.delete_zone(zone)


def run(root: Path, runs: int, records: int, serial_interval: int) -> dict[str, list[float]]:
    port = dns_port()
    config = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=EPMD, services=SERVICES,
                          extra={"image_namespace": DEPLOYMENT, "designate_dns_port": port,
                                 "designate_serial_interval": serial_interval})
    build_images(config, SERVICES)
    destroy = ["--quiet", "--config-dir", str(config), "destroy", "--yes-i-really-really-mean-it"]
    out: dict[str, list[float]] = {"designate deploy": [], "record created -> dig answers": []}
    try:
        for number in range(runs):
            main(destroy)
            remove_deployment(sdk_client(), DEPLOYMENT)
            one_run(config, port, records, out)
            print(f"run {number + 1}: designate deploy {out['designate deploy'][-1]:.1f}s, records "
                  f"{', '.join(f'{v:.1f}' for v in out['record created -> dig answers'][-records:])}s", flush=True)
        return out
    finally:
        main(destroy)
        remove_deployment(sdk_client(), DEPLOYMENT)


def main_bench() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=3)
    parser.add_argument("--serial-interval", type=int, default=5)
    args = parser.parse_args()
    added = not subprocess.run(["ip", "-4", "-o", "addr", "show", "to", f"{ADDRESS}/32"],
                               capture_output=True, text=True, check=False).stdout.strip()
    if added:
        subprocess.run(["ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo"], check=True)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-designate-") as tmp:
            results = run(Path(tmp), args.runs, args.records, args.serial_interval)
    finally:
        if added:
            subprocess.run(["ip", "addr", "delete", f"{ADDRESS}/32", "dev", "lo"], check=False)
    for key, values in results.items():
        print(f"{key}: median {statistics.median(values):.2f}s ({', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main_bench()
