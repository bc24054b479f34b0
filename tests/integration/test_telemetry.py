"""Deploy Gnocchi and Aodh with only what they need (MariaDB, RabbitMQ, memcached, Keystone) and use them through
their APIs with keystoneauth (the session openstacksdk holds): both in the catalog (`metric`, `alarming`);
measures posted to a Gnocchi metric are aggregated by gnocchi-metricd and read back; Aodh threshold alarms on
that metric go from `insufficient data` to `alarm` (threshold below the measures) and to `ok` (above) once the
evaluator sees the measures. Ceilometer's part (a server's metrics) is proven in the shared cloud:
tests/e2e/aio/test_telemetry_cloud.py.

Own deployment (`btel`) on its own loopback address (127.0.0.76, added to lo for the run), own Erlang ports,
config, state and log directories under a temporary directory; everything removed at the end.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from berth.config.loader import load_config
from tests.sandbox import deployed, wait_for

# extended: the e2e cloud proves the main path (tests/e2e/aio/test_telemetry_cloud.py) within CI's time budget
pytestmark = [pytest.mark.integration, pytest.mark.extended]

DEPLOYMENT = "btel"
ADDRESS = "127.0.0.76"
EPMD_PORT = 4402
SERVICES = ("mariadb", "rabbitmq", "memcached", "keystone", "gnocchi", "aodh")
EXTRA = {"gnocchi_metric_processing_delay": 5, "aodh_evaluation_interval": 10}


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    added = not ip("-4", "-o", "addr", "show", "to", f"{ADDRESS}/32").stdout.strip()
    if added:
        assert ip("addr", "add", f"{ADDRESS}/32", "dev", "lo").returncode == 0
    try:
        with deployed(tmp_path_factory.mktemp("telemetry"), deployment=DEPLOYMENT, address=ADDRESS,
                      epmd_port=EPMD_PORT, services=SERVICES, extra=EXTRA) as config_dir:
            yield config_dir
    finally:
        if added:
            ip("addr", "delete", f"{ADDRESS}/32", "dev", "lo")


@pytest.fixture(scope="module")
def cloud(env: Path) -> Any:
    import openstack

    password = load_config(env).passwords["keystone_admin_password"]
    return openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username="admin", project_name="admin",
                             password=password, user_domain_name="Default", project_domain_name="Default",
                             region_name="RegionOne", identity_api_version="3", load_yaml_config=False,
                             load_envvars=False)


def api(cloud: Any, service_type: str) -> Any:
    """Calls to one service of the catalog through the cloud's keystoneauth session: (method, path, json)."""
    def call(method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 202, 204)) -> Any:
        response = cloud.session.request(path, method, json=body, raise_exc=False,
                                         endpoint_filter={"service_type": service_type, "interface": "public"})
        assert response.status_code in ok, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json() if response.content else None
    return call


def test_catalog_has_metric_and_alarming(cloud: Any) -> None:
    services = {s.type: s.id for s in cloud.identity.services()}
    for kind, port in (("metric", 8041), ("alarming", 8042)):
        urls = {e.interface: e.url for e in cloud.identity.endpoints(service_id=services[kind])}
        assert urls == {"public": f"http://{ADDRESS}:{port}", "internal": f"http://{ADDRESS}:{port}"}


def test_measures_are_aggregated_and_threshold_alarms_change_state(cloud: Any) -> None:
    """Two alarms on one metric whose measures are all 90: threshold 50 goes to `alarm`, threshold 100 to `ok`.
    (Two alarms, not one changed with PUT: Aodh 2025.1's evaluator no longer picked up an alarm after a PUT,
    its cycles counting 0 alarms.)"""
    gnocchi, aodh = api(cloud, "metric"), api(cloud, "alarming")
    name = f"berth-{int(time.time())}"
    gnocchi("POST", "/v1/archive_policy", {"name": name, "aggregation_methods": ["mean", "max"],
                                           "definition": [{"granularity": "10s", "timespan": "1h"}]})
    metric = gnocchi("POST", "/v1/metric", {"archive_policy_name": name, "name": name})
    alarms: dict[str, Any] = {}
    try:
        for expected, threshold in (("alarm", 50), ("ok", 100)):
            alarms[expected] = aodh("POST", "/v2/alarms", {
                "name": f"{name}-{expected}", "type": "gnocchi_aggregation_by_metrics_threshold",
                "gnocchi_aggregation_by_metrics_threshold_rule": {
                    "metrics": [metric["id"]], "aggregation_method": "mean", "granularity": 10,
                    "evaluation_periods": 1, "threshold": threshold, "comparison_operator": "gt"}})
            assert alarms[expected]["state"] == "insufficient data"
        started = time.monotonic()

        # 20 measures, one a second up to now, at every probe: the evaluator looks at the last 10 s windows
        def post_and_read() -> list[Any]:
            now = datetime.now(UTC)
            gnocchi("POST", f"/v1/metric/{metric['id']}/measures",
                    [{"timestamp": (now - timedelta(seconds=s)).isoformat(), "value": 90.0} for s in range(20)])
            return list(gnocchi("GET", f"/v1/metric/{metric['id']}/measures?aggregation=mean&refresh=false"))
        points = wait_for("measures aggregated by gnocchi-metricd", 180, post_and_read, interval=5)
        aggregated = time.monotonic() - started
        assert all(p[1] == 10.0 and p[2] == 90.0 for p in points), points

        def states() -> dict[str, str]:
            post_and_read()
            return {expected: str(aodh("GET", f"/v2/alarms/{alarm['alarm_id']}/state"))
                    for expected, alarm in alarms.items()}
        wait_for("both alarms in their state", 240, lambda: states() == {"alarm": "alarm", "ok": "ok"}, interval=5)
        print(f"measures aggregated after {aggregated:.1f}s, both alarms changed state after "
              f"{time.monotonic() - started:.1f}s")
        for expected, alarm in alarms.items():
            history = aodh("GET", f"/v2/alarms/{alarm['alarm_id']}/history")
            assert any(h["type"] == "state transition" and f'"{expected}"' in h["detail"] for h in history), history
    finally:
        for alarm in alarms.values():
            aodh("DELETE", f"/v2/alarms/{alarm['alarm_id']}")
        gnocchi("DELETE", f"/v1/metric/{metric['id']}")
