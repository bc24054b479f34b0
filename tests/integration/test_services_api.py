"""Deploy Glance, Placement, Heat and Horizon (with their infrastructure and Keystone) and use each for real.

Own deployment (`berthapi`) on its own loopback address (127.0.0.21) and Erlang ports, own config/state/log
directories, so it runs beside other test deployments; leftovers of an earlier run are destroyed first, everything at the end.
A fresh machine builds the images first.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from berth.cli.main import main
from berth.engine import labels
from tests.sandbox import build_images, remove_deployment, sdk_client, write_config

pytestmark = pytest.mark.integration

DEPLOYMENT = "berthapi"
ADDRESS = "127.0.0.21"
SERVICES = ("mariadb", "rabbitmq", "memcached", "keystone", "glance", "placement", "heat", "horizon")
IMAGES = ("mariadb", "rabbitmq", "memcached", "keystone", "glance-api", "placement-api", "heat-api",
          "heat-api-cfn", "heat-engine", "horizon")
HORIZON = f"http://{ADDRESS}/horizon"  # Debian's WEBROOT; / redirects there


def destroy(client: docker.DockerClient) -> None:
    remove_deployment(client, DEPLOYMENT)


def containers(client: docker.DockerClient) -> list[Any]:
    return client.containers.list(all=True, filters={"label": f"{labels.DEPLOYMENT}={DEPLOYMENT}"})


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    client = sdk_client()
    destroy(client)
    root = tmp_path_factory.mktemp("services-api")
    config_dir = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4383, services=SERVICES)
    build_images(config_dir, IMAGES)
    start = time.monotonic()
    assert main(["--config-dir", str(config_dir), "deploy", "--yes"]) == 0
    print(f"deploy of {len(SERVICES)} services took {time.monotonic() - start:.1f}s")
    yield {"client": client, "config": config_dir, "root": root}
    destroy(client)


@pytest.fixture(scope="module")
def cloud(env):
    import openstack

    passwords = yaml.safe_load((env["config"] / "passwords.yml").read_text())
    return openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username="admin", project_name="admin",
                             password=passwords["keystone_admin_password"], user_domain_name="Default",
                             project_domain_name="Default", region_name="RegionOne", identity_api_version="3",
                             load_yaml_config=False, load_envvars=False)


def test_catalog_has_every_endpoint(cloud):
    types = {s.type for s in cloud.identity.services()}
    assert {"identity", "image", "placement", "orchestration", "cloudformation"} <= types
    urls = {e.url for e in cloud.identity.endpoints() if e.interface == "public"}
    for url in (f"http://{ADDRESS}:9292", f"http://{ADDRESS}:8778", f"http://{ADDRESS}:8000/v1",
                f"http://{ADDRESS}:8004/v1/%(project_id)s"):
        assert url in urls


def test_glance_stores_and_returns_an_image(cloud, env):
    data = bytes(range(256)) * 4096 + b"berth"
    image = cloud.image.create_image(name="berth-api-test", data=data, disk_format="raw",
                                     container_format="bare", allow_duplicates=True)
    try:
        image = cloud.image.get_image(image.id)
        assert image.status == "active" and image.size == len(data)
        body = cloud.image.download_image(image, stream=False)
        assert hashlib.sha256(body.content).hexdigest() == hashlib.sha256(data).hexdigest()
        # the file store is the named volume
        volume = env["client"].volumes.get(f"{DEPLOYMENT}_glance_images")
        assert volume.attrs["Labels"].get(labels.DEPLOYMENT) == DEPLOYMENT
    finally:
        cloud.image.delete_image(image.id)


def test_placement_records_resource_providers(cloud):
    provider = cloud.placement.create_resource_provider(name="berth-api-test-rp")
    try:
        names = [p.name for p in cloud.placement.resource_providers()]
        assert "berth-api-test-rp" in names
    finally:
        cloud.placement.delete_resource_provider(provider)


def test_heat_engine_is_up(cloud):
    deadline = time.monotonic() + 60  # the engine reports itself a moment after it connects to RabbitMQ
    while True:
        response = cloud.orchestration.get("/services")
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert response.status_code == 200, response.text
    engines = response.json()["services"]
    assert engines and all(s["status"] == "up" for s in engines)


def wait_stack(cloud: Any, stack_id: str, seconds: float = 120) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        stack = cloud.orchestration.get_stack(stack_id)
        if stack.status != "CREATE_IN_PROGRESS" or time.monotonic() > deadline:
            return stack
        time.sleep(1)


def test_heat_creates_a_stack(cloud):
    template = {"heat_template_version": "2018-08-31",
                "resources": {"secret": {"type": "OS::Heat::RandomString", "properties": {"length": 24}}},
                "outputs": {"value": {"value": {"get_attr": ["secret", "value"]}}}}
    stack = cloud.orchestration.create_stack(name="berth-api-test", template=template)
    try:
        stack = wait_stack(cloud, stack.id)
        assert stack.status == "CREATE_COMPLETE", stack.status_reason
        outputs = {o["output_key"]: o["output_value"] for o in stack.outputs}
        assert len(outputs["value"]) == 24
    finally:
        cloud.orchestration.delete_stack(stack.id)


def test_heat_stack_domain_users_can_signal(cloud):
    """A wait condition handle gets a user in the `heat` domain (made by heat_domain_admin); its token signals."""
    import requests

    template = {"heat_template_version": "2018-08-31",
                "resources": {"handle": {"type": "OS::Heat::WaitConditionHandle"},
                              "wait": {"type": "OS::Heat::WaitCondition",
                                       "properties": {"handle": {"get_resource": "handle"}, "timeout": 120}}},
                "outputs": {"curl": {"value": {"get_attr": ["handle", "curl_cli"]}}}}
    stack = cloud.orchestration.create_stack(name="berth-api-wait", template=template)
    try:
        deadline = time.monotonic() + 60
        curl = None
        while not curl and time.monotonic() < deadline:  # the output appears once the handle exists
            time.sleep(1)
            stack = cloud.orchestration.get_stack(stack.id)
            curl = (stack.outputs or [{}])[0].get("output_value")
        assert curl, f"no signal URL: {stack.status} {stack.status_reason}"
        token = re.search(r"X-Auth-Token: ([^']+)'", curl)
        assert token, curl
        answer = requests.post(curl.split()[-1], json={"status": "SUCCESS", "data": "berth"}, timeout=30,
                               headers={"X-Auth-Token": token.group(1)})
        assert answer.status_code == 200, answer.text
        stack = wait_stack(cloud, stack.id)
        assert stack.status == "CREATE_COMPLETE", stack.status_reason
    finally:
        cloud.orchestration.delete_stack(stack.id)
    assert cloud.identity.find_domain("heat") is not None


def horizon_login(env) -> Any:
    """A requests session logged in to Horizon as admin (the form's CSRF token and region)."""
    import requests

    passwords = yaml.safe_load((env["config"] / "passwords.yml").read_text())
    session = requests.Session()
    page = session.get(f"{HORIZON}/auth/login/", timeout=60)
    assert page.status_code == 200
    form = {"username": "admin", "password": passwords["keystone_admin_password"], "next": "/horizon/identity/users/"}
    for name in ("csrfmiddlewaretoken", "region", "domain"):
        found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page.text) or \
            re.search(rf'value="([^"]*)"[^>]*name="{name}"', page.text)
        if found:
            form[name] = found.group(1)
    assert "csrfmiddlewaretoken" in form
    answer = session.post(f"{HORIZON}/auth/login/", data=form, headers={"Referer": f"{HORIZON}/auth/login/"},
                          timeout=60)
    assert answer.status_code == 200, answer.text[-2000:]
    return session, answer


def test_horizon_admin_logs_in(env, cloud):
    session, answer = horizon_login(env)
    assert "/auth/login/" not in answer.url, "login failed: back on the login page"
    assert 'id="loginForm"' not in answer.text
    assert "glance" in answer.text and "placement" in answer.text  # the users table of the identity panel
    for path in ("/admin/images/", "/project/images/"):  # panels of the services deployed here
        page = session.get(f"{HORIZON}{path}", timeout=60)
        assert page.status_code == 200 and "/auth/login/" not in page.url, path
    static = session.get(f"{HORIZON}/static/dashboard/img/logo.svg", timeout=30)
    assert static.status_code == 200
    # the page's own stylesheets and scripts (offline-compressed for WEBROOT) load, and links stay under it
    assets = re.findall(r'(?:href|src)="(/[^"]+\.(?:css|js))"', answer.text)
    assert assets and all(a.startswith("/horizon/static/") for a in assets), assets
    for asset in assets:
        assert session.get(f"http://{ADDRESS}{asset}", timeout=30).status_code == 200, asset
    assert 'href="/horizon/project/' in answer.text or 'href="/horizon/admin/' in answer.text
    root = session.get(f"http://{ADDRESS}/", timeout=30, allow_redirects=False)
    assert root.status_code in (301, 302) and root.headers["Location"].endswith("/horizon/")
    if cloud.identity.find_service("nova") is not None:  # with compute deployed, the instances page too
        page = session.get(f"{HORIZON}/admin/instances/", timeout=60)
        assert page.status_code == 200 and "/auth/login/" not in page.url


def test_redeploy_changes_nothing(env):
    before = {c.name: c.attrs["State"]["StartedAt"] for c in containers(env["client"])}
    start = time.monotonic()
    assert main(["--config-dir", str(env["config"]), "deploy", "--yes"]) == 0
    assert time.monotonic() - start < 10
    after = {c.name: c.attrs["State"]["StartedAt"] for c in containers(env["client"])}
    assert after == before


def test_containers_are_small_and_healthy(env):
    names = {c.name: c for c in containers(env["client"])}
    mine = [n for n in names if n.split("-", 1)[1].split("_")[0] in ("glance", "placement", "heat", "horizon")]
    assert len(mine) == 6
    total = 0
    for name in sorted(mine):
        container = names[name]
        assert container.status == "running", name
        test = (container.attrs["Config"].get("Healthcheck") or {}).get("Test", [])
        if test:  # the engine's first check may still be pending: run the container's own check now
            code, output = container.exec_run(test[1:])
            assert code == 0, f"{name}: {output.decode(errors='replace')}"
        stats = container.stats(stream=False)
        used = stats["memory_stats"]["usage"] - stats["memory_stats"].get("stats", {}).get("cache", 0)
        total += used
        print(f"{name}: {used / 2**20:.0f} MiB")
    print(f"glance+placement+heat+horizon: {total / 2**20:.0f} MiB")
    assert total < 1.2 * 2**30
    logs = Path(env["root"]) / "log"
    for service in ("glance", "placement", "heat", "horizon"):
        assert any((logs / service).glob("*.log")), service
