"""Deploy Mistral and Zaqar (with Redis) and only what they need (MariaDB, RabbitMQ, memcached, Keystone, and Glance
for the workflow to call), then use them through openstacksdk: a Mistral workflow lists Glance's images with the
caller's token and reaches SUCCESS with the names Glance itself lists; a Zaqar queue gets messages that are
posted, claimed and deleted (tests/e2e/workflow_checks.py, the checks the e2e cloud runs too). Also: Redis bound
to the deployment's address with its password in the 0600 redis.conf only, refusing a client without it, its data
on the volume; the catalog's `workflowv2` and `messaging` entries; a re-deploy that changes nothing.

Own deployment (`bwf`) on its own loopback address (127.0.0.77, added to lo for the run), own Erlang ports, own
image namespace, config, state and log directories under a temporary directory. Leftovers of an earlier run are
removed first, everything (containers, volumes, the address) at the end.
"""

from __future__ import annotations

import shutil
import socket
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
from tests.e2e import workflow_checks
from tests.sandbox import build_images, remove_deployment, sdk_client, write_config

# extended: the e2e cloud runs the same proofs (tests/e2e/aio/test_mistral_zaqar_cloud.py) within CI's time budget
pytestmark = [pytest.mark.integration, pytest.mark.extended]

DEPLOYMENT = "bwf"
ADDRESS = "127.0.0.77"
EPMD_PORT = 4403  # and the distribution port 25703 (write_config: epmd + 21300)
SERVICES = ("mariadb", "rabbitmq", "memcached", "keystone", "glance", "redis", "mistral", "zaqar")


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
    root = tmp_path_factory.mktemp("workflow")
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


def in_container(client: docker.DockerClient, key: str, *argv: str, user: str = "root") -> tuple[int, str]:
    code, out = client.containers.get(f"{DEPLOYMENT}-{key}").exec_run(list(argv), user=user)
    return code, out.decode()


def redis_say(*lines: str) -> str:
    """Raw RESP inline commands to Redis on the deployment's address; what it answered."""
    with socket.create_connection((ADDRESS, 6379), timeout=10) as sock:
        sock.sendall("".join(f"{line}\r\n" for line in lines).encode())
        time.sleep(0.5)
        return sock.recv(4096).decode(errors="replace")


def test_catalog_has_workflow_and_messaging(cloud: Any) -> None:
    services = {s.type: s.id for s in cloud.identity.services()}
    assert {"workflowv2", "messaging"} <= set(services)
    urls = {e.interface: e.url for e in cloud.identity.endpoints(service_id=services["workflowv2"])}
    assert urls == {"public": f"http://{ADDRESS}:8989/v2", "internal": f"http://{ADDRESS}:8989/v2"}
    urls = {e.interface: e.url for e in cloud.identity.endpoints(service_id=services["messaging"])}
    assert urls == {"public": f"http://{ADDRESS}:8888", "internal": f"http://{ADDRESS}:8888"}


def test_a_workflow_lists_glances_images_and_succeeds(cloud: Any) -> None:
    image = cloud.image.create_image(name=f"berth-wf-{time.monotonic_ns()}", data=b"berth workflow proof\n",
                                     disk_format="raw", container_format="bare", allow_duplicates=True)
    try:
        seconds = workflow_checks.check_images_listed(cloud)
        print(f"workflow created, executed to SUCCESS and removed in {seconds:.1f}s")
    finally:
        cloud.image.delete_image(image.id, ignore_missing=True)


def test_a_message_is_posted_claimed_and_deleted(cloud: Any) -> None:
    figures = workflow_checks.check_queue_round_trip(cloud)
    print("; ".join(f"{what} after {seconds:.2f}s" for what, seconds in figures.items()))


def test_redis_wants_its_password_and_keeps_it_secret(env: dict[str, Any]) -> None:
    client, password = env["client"], env["passwords"]["redis_password"]
    assert "NOAUTH" in redis_say("PING")
    assert "WRONGPASS" in redis_say("AUTH not-the-password")
    assert redis_say(f"AUTH {password}", "PING") == "+OK\r\n+PONG\r\n"
    code, out = in_container(client, "redis", "stat", "-c", "%a %U", "/etc/redis/redis.conf")
    assert (code, out.split()) == (0, ["600", "redis"])
    # the deployment's address only (host networking: the container sees every socket of the host)
    bind = f"*2\r\n$4\r\nbind\r\n${len(ADDRESS)}\r\n{ADDRESS}\r\n"
    assert redis_say(f"AUTH {password}", "CONFIG GET bind") == f"+OK\r\n{bind}"
    code, out = in_container(client, "redis", "sh", "-c", "ss -tlnH 'sport = :6379' | awk '{print $4}'")
    assert code == 0 and set(out.split()) == {f"{ADDRESS}:6379"}, out
    code, out = in_container(client, "redis", "ls", "/var/lib/redis")
    assert code == 0 and "appendonlydir" in out.split(), out  # the append-only file on the volume
    for container in client.containers.list(filters={"label": f"berth.deployment={DEPLOYMENT}"}):
        assert password not in container.logs().decode(errors="replace"), container.name
        attrs = container.attrs
        assert password not in str(attrs["Config"]) and password not in str(attrs["HostConfig"]), container.name


def test_a_redeploy_changes_nothing(env: dict[str, Any]) -> None:
    selector = {"label": f"berth.deployment={DEPLOYMENT}"}
    before = {c.name: c.id for c in env["client"].containers.list(filters=selector)}
    plan = snapshot(load_config(env["config"]), connect()).plan
    assert not plan.has_changes, plan.changes
    deploy(env["config"])
    assert {c.name: c.id for c in env["client"].containers.list(filters=selector)} == before
