"""Telemetry figure on this host: a server created -> its first CPU measure readable in Gnocchi.

    python bench/bench_telemetry.py --config-dir DIR [--runs 3]

Against a running all-in-one with Gnocchi and Ceilometer enabled (DIR: its config dir, with the clouds.yaml the
deploy wrote), e.g. one made by scripts/aio.sh with the shared e2e cloud's TELEMETRY_GLOBALS
(tests/e2e/aio/conftest.py). Each run boots a server of the test guest (m1.tiny on demo-net), times it until
ACTIVE and until Gnocchi answers for its `instance` resource with a `cpu` measure (`?refresh=true`: measures not
yet aggregated by gnocchi-metricd count), then deletes the server. What bounds it: the boot, then the compute
agent's next polling run (`ceilometer_polling_interval`), the notification agent's publishing. Medians printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def connect(config_dir: Path) -> Any:
    import openstack

    entry = yaml.safe_load((config_dir / "clouds.yaml").read_text())["clouds"]["berth-admin"]
    return openstack.connect(load_yaml_config=False, load_envvars=False, auth=entry["auth"],
                             region_name=entry["region_name"], identity_api_version="3")


def first_measure(conn: Any, server_id: str, timeout: float) -> bool:
    where = {"service_type": "metric", "interface": "public"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resource = conn.session.get(f"/v1/resource/instance/{server_id}", endpoint_filter=where, raise_exc=False)
        if resource.status_code == 200 and "cpu" in resource.json()["metrics"]:
            metric = resource.json()["metrics"]["cpu"]
            if conn.session.get(f"/v1/metric/{metric}/measures?refresh=true", endpoint_filter=where).json():
                return True
        time.sleep(1)
    return False


def run(conn: Any, index: int) -> tuple[float, float]:
    image = conn.image.find_image("berth-test-guest", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    network = conn.network.find_network("demo-net", ignore_missing=False)
    start = time.monotonic()
    server = conn.compute.create_server(name=f"bench-telemetry-{index}", image_id=image.id, flavor_id=flavor.id,
                                        networks=[{"uuid": network.id}])
    try:
        server = conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"], interval=1, wait=300)
        active = time.monotonic() - start
        if not first_measure(conn, server.id, 600):
            raise SystemExit(f"no cpu measure of {server.id} in Gnocchi within 600 s")
        return active, time.monotonic() - start
    finally:
        conn.compute.delete_server(server.id, ignore_missing=True)
        conn.compute.wait_for_delete(server, wait=300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-dir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    conn = connect(args.config_dir)
    figures = [run(conn, i) for i in range(args.runs)]
    for i, (active, measured) in enumerate(figures):
        print(f"run {i + 1}: ACTIVE after {active:.1f}s, first cpu measure in Gnocchi after {measured:.1f}s")
    print(f"median: ACTIVE {statistics.median(f[0] for f in figures):.1f}s, first measure "
          f"{statistics.median(f[1] for f in figures):.1f}s (server created -> measure readable)")


if __name__ == "__main__":
    main()
