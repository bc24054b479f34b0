"""Deploy Designate with BIND 9 and only what it needs (MariaDB, RabbitMQ, memcached, Keystone), and use it through
openstacksdk: the catalog, every Designate service reporting UP, BIND authoritative only, the rndc key a secret;
a zone and an A record created through the API that BIND answers for (asked with `dig`), the zone deleted and the
name no longer answered, and a re-deploy that changes nothing.

Own deployment (`bdns`) on its own loopback address (127.0.0.66, added to lo for the run), own Erlang ports, own
image namespace, config, state and log directories under a temporary directory; BIND answers on port 53 of that
address when it is free there, else on 10053. Leftovers of an earlier run are removed first, everything
(containers, volumes, the address) at the end. The record's address is a TEST-NET one: nothing ever sends to it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from berth.cli.main import main
from berth.config.loader import load_config
from berth.engine import connect
from berth.lifecycle.deploy import snapshot
from tests import dns as dns_checks
from tests.sandbox import build_images, remove_deployment, sdk_client, wait_for, write_config

# extended: the e2e cloud proves the main path (tests/e2e/aio/test_dns_cloud.py) within CI's time budget
pytestmark = [pytest.mark.integration, pytest.mark.extended]

DEPLOYMENT = "bdns"
ADDRESS = "127.0.0.66"
EPMD_PORT = 4392  # and the distribution port 25692 (write_config: epmd + 21300)
SERVICES = ("mariadb", "rabbitmq", "memcached", "keystone", "designate")
# the services that report a heartbeat (the API under uwsgi runs no heartbeat loop: its health check is HTTP)
DESIGNATE_SERVICES = {"central", "producer", "worker", "mdns"}


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def dig(port: int, name: str, kind: str = "A", *options: str) -> str:
    return dns_checks.dig(ADDRESS, port, name, kind, *options)


def rcode(port: int, name: str, kind: str = "A", *options: str) -> str:
    return dns_checks.rcode(ADDRESS, port, name, kind, *options)


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
    dns_port = 53 if dns_checks.free(ADDRESS, 53) else 10053
    root = tmp_path_factory.mktemp("designate")
    config_dir = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=EPMD_PORT, services=SERVICES,
                              extra={"image_namespace": DEPLOYMENT, "designate_dns_port": dns_port})
    try:
        build_images(config_dir, SERVICES)
        print(f"deploy of {', '.join(SERVICES)} took {deploy(config_dir):.1f}s")
        yield {"client": client, "config": config_dir, "passwords": load_config(config_dir).passwords,
               "port": dns_port}
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


def in_container(client: docker.DockerClient, key: str, *argv: str, user: str = "root") -> tuple[int, str]:
    code, out = client.containers.get(f"{DEPLOYMENT}-{key}").exec_run(list(argv), user=user)
    return code, out.decode()


def test_catalog_has_dns_on_port_9001(cloud: Any) -> None:
    services = {s.type: s.id for s in cloud.identity.services()}
    assert "dns" in services
    urls = {e.interface: e.url for e in cloud.identity.endpoints(service_id=services["dns"])}
    assert urls == {"public": f"http://{ADDRESS}:9001", "internal": f"http://{ADDRESS}:9001"}


def test_every_designate_service_reports_up(cloud: Any) -> None:
    def up() -> set[str]:
        return {s.service_name for s in cloud.dns.service_statuses() if s.status == "UP"}

    wait_for("designate services UP", 90, lambda: DESIGNATE_SERVICES <= up())


def test_bind_is_authoritative_only(env: dict[str, Any]) -> None:
    """Nothing is asked of the internet: a name BIND has no zone for is refused, not looked up; it tells no
    version; its configuration says no recursion and no NOTIFYs of its own, on this address only."""
    port = env["port"]
    assert rcode(port, "debian.org.", "A", "+recurse") == "REFUSED"
    assert dig(port, "version.bind.", "TXT", "-c", "CH", "+short") == ""
    code, conf = in_container(env["client"], "designate_bind9", "named-checkconf", "-p", "/etc/bind/named.conf")
    assert code == 0, conf
    flat = " ".join(conf.split())
    for statement in ("recursion no;", "notify no;", "allow-transfer { \"none\"; };", "allow-new-zones yes;",
                      f"listen-on port {port} {{ {ADDRESS}/32; }};", "listen-on-v6 { \"none\"; };"):
        assert statement in flat, statement


def test_the_rndc_key_is_a_secret_both_sides_share(env: dict[str, Any]) -> None:
    client, key = env["client"], env["passwords"]["designate_rndc_key"]
    for container, path, owner in (("designate_worker", "/etc/designate/rndc.key", "designate"),
                                   ("designate_bind9", "/etc/bind/rndc.key", "bind")):
        code, out = in_container(client, container, "stat", "-c", "%a %U", path)
        assert (code, out.split()) == (0, ["600", owner]), path
    # the worker's rndc, as the worker runs it, controls BIND
    code, out = in_container(client, "designate_worker", "rndc", "-s", ADDRESS, "-p", "953", "-k",
                             "/etc/designate/rndc.key", "status", user="designate")
    assert code == 0 and "server is up and running" in out, out
    for container in client.containers.list(filters={"label": f"berth.deployment={DEPLOYMENT}"}):
        assert key not in container.logs().decode(errors="replace"), container.name


def test_a_record_is_answered_by_bind_until_its_zone_is_deleted(cloud: Any, env: dict[str, Any]) -> None:
    figures = dns_checks.record_round_trip(cloud.dns, ADDRESS, env["port"])
    print("; ".join(f"{what} took {seconds:.1f}s" for what, seconds in figures.items()))
    code, out = in_container(env["client"], "designate_bind9", "rndc", "-s", ADDRESS, "-p", "953", "-k",
                             "/etc/bind/rndc.key", "showzone", dns_checks.ZONE.rstrip("."))
    assert code != 0 and "not found" in out, out


def test_a_redeploy_changes_nothing(env: dict[str, Any]) -> None:
    selector = {"label": f"berth.deployment={DEPLOYMENT}"}
    before = {c.name: c.id for c in env["client"].containers.list(filters=selector)}
    plan = snapshot(load_config(env["config"]), connect()).plan
    assert not plan.has_changes, plan.changes
    deploy(env["config"])
    assert {c.name: c.id for c in env["client"].containers.list(filters=selector)} == before
