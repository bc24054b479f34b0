"""Deploy Ironic and Magnum with only what they need (MariaDB, RabbitMQ, memcached, Keystone, Glance; no Nova, no
Neutron) and use them through openstacksdk (tests/e2e/baremetal_checks.py, the checks the shared e2e cloud also
runs): the catalog's `baremetal` and `container-infra`, a fake-hardware node enrolled, managed, provided, deployed
with a Glance image to `active`, powered, undeployed to `available`; Magnum's conductor up, its trustee domain, a
cluster template on a fedora-coreos image (no flavor or external network: there is no Nova or Neutron here);
secrets in no container's log and a re-deploy that changes nothing.

Own deployment (`bbm`) on its own loopback address (127.0.0.78, added to lo for the run), own Erlang ports, own
image namespace, config, state and log directories under a temporary directory. Leftovers of an earlier run are
removed first, everything (containers, volumes, the address) at the end.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth.cli.main import main
from berth.config.loader import load_config
from berth.engine import connect
from berth.lifecycle.deploy import snapshot
from tests.e2e import baremetal_checks as checks
from tests.sandbox import build_images, remove_deployment, sdk_client, write_config

# extended: the shared e2e cloud runs the same checks (tests/e2e/aio/test_baremetal_cloud.py, with Nova and
# Neutron too) within CI's time budget; this module adds the no-Nova/Neutron deployment, logs and a no-op re-deploy
pytestmark = [pytest.mark.integration, pytest.mark.extended]

DEPLOYMENT = "bbm"
ADDRESS = "127.0.0.78"
EPMD_PORT = 4404  # and the distribution port 25704 (write_config: epmd + 21300)
SERVICES = ("mariadb", "rabbitmq", "memcached", "keystone", "glance", "ironic", "magnum")
SECRETS = ("ironic_database_password", "ironic_keystone_password", "magnum_database_password",
           "magnum_keystone_password", "magnum_trustee_domain_admin_password", "keystone_admin_password")


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def deploy(config_dir: Path) -> float:
    start = time.monotonic()
    assert main(["--config-dir", str(config_dir), "deploy", "--yes"]) == 0
    return time.monotonic() - start


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    client = sdk_client()
    remove_deployment(client, DEPLOYMENT)
    added = not ip("-4", "-o", "addr", "show", "to", f"{ADDRESS}/32").stdout.strip()
    if added:
        assert ip("addr", "add", f"{ADDRESS}/32", "dev", "lo").returncode == 0
    root = tmp_path_factory.mktemp("baremetal")
    config_dir = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=EPMD_PORT, services=SERVICES,
                              extra={"image_namespace": DEPLOYMENT})
    try:
        build_images(config_dir, SERVICES)
        print(f"deploy of {', '.join(SERVICES)} took {deploy(config_dir):.1f}s")
        yield {"client": client, "config": config_dir, "passwords": load_config(config_dir).passwords}
    finally:
        main(["--quiet", "--config-dir", str(config_dir), "destroy", "--yes-i-really-really-mean-it"])
        remove_deployment(client, DEPLOYMENT)
        shutil.rmtree(root / "state", ignore_errors=True)
        if added:
            ip("addr", "delete", f"{ADDRESS}/32", "dev", "lo")


@pytest.fixture(scope="module")
def cloud(env: dict[str, Any]) -> Any:
    import openstack

    return openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username="admin", project_name="admin",
                             password=env["passwords"]["keystone_admin_password"], user_domain_name="Default",
                             project_domain_name="Default", region_name="RegionOne", identity_api_version="3",
                             load_yaml_config=False, load_envvars=False)


def test_catalog_has_baremetal_and_container_infra(cloud: Any) -> None:
    services = {s.type: s.id for s in cloud.identity.services()}
    for kind, url in (("baremetal", f"http://{ADDRESS}:6385"), ("container-infra", f"http://{ADDRESS}:9511/v1")):
        urls = {e.interface: e.url for e in cloud.identity.endpoints(service_id=services[kind])}
        assert urls == {"public": url, "internal": url}, kind


def test_ironic_serves_fake_hardware(cloud: Any) -> None:
    checks.ironic_serves_fake_hardware(cloud)


def test_a_node_is_deployed_and_undeployed(cloud: Any) -> None:
    figures = checks.node_round_trip(cloud)
    print("; ".join(f"{what} took {seconds:.1f}s" for what, seconds in figures.items()))


def test_magnum_conductor_is_up_with_its_trustee_domain(cloud: Any) -> None:
    checks.magnum_conductor_up(cloud)
    checks.trustee_domain_ready(cloud)


def test_a_cluster_template_is_made_on_a_coreos_image(cloud: Any) -> None:
    figures = checks.cluster_template_round_trip(cloud)
    print("; ".join(f"{what} took {seconds:.1f}s" for what, seconds in figures.items()))


def test_no_secret_in_any_container_log(env: dict[str, Any]) -> None:
    secrets = [env["passwords"][name] for name in SECRETS]
    for container in env["client"].containers.list(filters={"label": f"berth.deployment={DEPLOYMENT}"}):
        log = container.logs().decode(errors="replace")
        assert not [s for s in secrets if s in log], container.name


def test_a_redeploy_changes_nothing(env: dict[str, Any]) -> None:
    selector = {"label": f"berth.deployment={DEPLOYMENT}"}
    before = {c.name: c.id for c in env["client"].containers.list(filters=selector)}
    plan = snapshot(load_config(env["config"]), connect()).plan
    assert not plan.has_changes, plan.changes
    deploy(env["config"])
    assert {c.name: c.id for c in env["client"].containers.list(filters=selector)} == before
