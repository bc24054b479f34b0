"""Telemetry in the shared all-in-one cloud (conftest.py's `cloud`, with Gnocchi, Ceilometer and Aodh on short
intervals): a server booted here gets its `instance` resource in Gnocchi with CPU measures (from the compute
agent's polling of nova_libvirt, through the notification agent), read back through Gnocchi's API; an Aodh
threshold alarm on them goes from `insufficient data` to `alarm`. The APIs are called with the cloud's
openstacksdk/keystoneauth session, found in the catalog. Gnocchi's and Aodh's own checks (measures posted by
hand, an alarm back to `ok`) run on their own deployment: tests/integration/test_telemetry.py (extended).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from berth.guest.qemu import MARKER
from tests.e2e.guest_disks import console
from tests.sandbox import wait_for

pytestmark = pytest.mark.e2e

FIGURES: dict[str, float] = {}


def api(conn: Any, service_type: str) -> Any:
    """Calls to one service of the catalog through the cloud's keystoneauth session: (method, path, body)."""
    def call(method: str, path: str, body: Any = None) -> Any:
        response = conn.session.request(path, method, json=body, raise_exc=False,
                                        endpoint_filter={"service_type": service_type, "interface": "public"})
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json() if response.content else None
    return call


@pytest.fixture(scope="module")
def conn(cloud: dict[str, Any]) -> Any:
    return cloud["env"].sdk()


@pytest.fixture(scope="module")
def server(conn: Any) -> Iterator[Any]:
    image = conn.image.find_image("berth-test-guest", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    network = conn.network.find_network("demo-net", ignore_missing=False)
    start = FIGURES["created"] = time.monotonic()
    server = conn.compute.create_server(name="e2e-telemetry-vm", image_id=image.id, flavor_id=flavor.id,
                                        networks=[{"uuid": network.id}])
    try:
        server = conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"], interval=1, wait=240)
        FIGURES["active"] = time.monotonic() - start
        wait_for("the guest's marker on the console", 180, lambda: MARKER in console(conn, server.id), interval=2)
        yield server
    finally:
        conn.compute.delete_server(server.id, ignore_missing=True)
        conn.compute.wait_for_delete(server, wait=180)


def test_metric_and_alarming_are_in_the_catalog(conn: Any) -> None:
    types = {s.type for s in conn.identity.services()}
    assert {"metric", "alarming"} <= types, types
    assert api(conn, "metric")("GET", "/v1/archive_policy/ceilometer-high")["name"] == "ceilometer-high"


def test_a_servers_cpu_measures_appear_in_gnocchi(conn: Any, server: Any) -> None:
    gnocchi = api(conn, "metric")

    def cpu_measures() -> list[Any]:
        response = conn.session.get(f"/v1/resource/instance/{server.id}", raise_exc=False,
                                    endpoint_filter={"service_type": "metric", "interface": "public"})
        if response.status_code == 404:
            return []
        metrics = response.json()["metrics"]
        if "cpu" not in metrics:
            return []
        return list(gnocchi("GET", f"/v1/metric/{metrics['cpu']}/measures?refresh=true&granularity=60"))

    measures = wait_for(f"cpu measures of {server.id} in Gnocchi", 360, cpu_measures, interval=5)
    FIGURES["first measure"] = time.monotonic() - FIGURES["created"]
    resource = gnocchi("GET", f"/v1/resource/instance/{server.id}")
    assert resource["display_name"] == "e2e-telemetry-vm" and resource["flavor_name"] == "m1.tiny", resource
    assert all(point[1] == 60.0 and point[2] > 0 for point in measures), measures  # CPU time used, in ns
    print(f"server created → ACTIVE {FIGURES['active']:.1f}s, → first cpu measure in Gnocchi "
          f"{FIGURES['first measure']:.1f}s")


def test_a_threshold_alarm_on_the_servers_cpu_changes_state(conn: Any, server: Any) -> None:
    aodh = api(conn, "alarming")
    alarm = aodh("POST", "/v2/alarms", {
        "name": "e2e-telemetry-cpu", "type": "gnocchi_resources_threshold",
        "gnocchi_resources_threshold_rule": {
            "metric": "cpu", "resource_type": "instance", "resource_id": server.id,
            "aggregation_method": "mean", "granularity": 60, "evaluation_periods": 1,
            "threshold": 0, "comparison_operator": "gt"}})
    try:
        assert alarm["state"] == "insufficient data"
        start = time.monotonic()
        wait_for("the alarm in state alarm", 300,
                 lambda: aodh("GET", f"/v2/alarms/{alarm['alarm_id']}/state") == "alarm", interval=5)
        print(f"alarm: insufficient data → alarm after {time.monotonic() - start:.1f}s")
        history = aodh("GET", f"/v2/alarms/{alarm['alarm_id']}/history")
        assert any(h["type"] == "state transition" and '"alarm"' in h["detail"] for h in history), history
    finally:
        aodh("DELETE", f"/v2/alarms/{alarm['alarm_id']}")
