"""Deploy Murano on Zed with only what it needs (MariaDB, RabbitMQ, memcached, Keystone, Heat) and use it through
its REST API with keystoneauth: the catalog, the core library imported by the deploy, an application package
built here (a zip of a manifest and one MuranoPL class) imported, an environment made, the application added in a
session, the session deployed: murano-engine runs the class, which builds the environment's Heat stack (one
OS::Heat::Value resource, no server) and reports Heat's output; the environment becomes `ready`, the deployment
`success`, the report is in the deployment's status lines, the stack is CREATE_COMPLETE with the output; deleting
the environment deletes the stack. A plan right after the deploy has nothing to do.

No Nova or Neutron here: the environment is made without default networks (a default network is a Neutron one,
with a security group in the stack). Applications that boot servers need Nova, Neutron and Glance, and those that
configure servers the guest agent, which berth does not wire (docs/services.md, "Murano").

Own deployment (`bmur`) on its own loopback address (127.0.0.79, added to lo for the run), own Erlang ports, config,
state and log directories under a temporary directory; Zed images (bookworm), built if missing. Leftovers of an
earlier run are removed first, everything (containers, volumes, the address) at the end.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from berth.cli.main import main
from berth.config.loader import load_config
from berth.engine import connect
from berth.lifecycle.deploy import snapshot
from tests.sandbox import build_images, remove_deployment, sdk_client, wait_for, write_config

# extended: a Zed deployment of its own costs about 5 of CI's 60 minutes; the next step is its proof in the
# release e2e's Zed cloud before that cloud's upgrade (about a minute there)
pytestmark = [pytest.mark.integration, pytest.mark.extended]

DEPLOYMENT = "bmur"
ADDRESS = "127.0.0.79"
EPMD_PORT = 4405  # and the distribution port 25705 (write_config: epmd + 21300)
SERVICES = ("mariadb", "rabbitmq", "memcached", "keystone", "heat", "murano")
MURANO = f"http://{ADDRESS}:8082"
APP = "org.berth.test.HeatValue"
GREETING = "hello from murano"

MANIFEST = f"""\
Format: 1.4
Type: Application
FullName: {APP}
Name: Berth Heat value
Description: A Heat stack with one OS::Heat::Value, no server; reports the stack's output.
Author: berth
Tags: [berth]
Classes:
  {APP}: HeatValue.yaml
"""

# MuranoPL: the class's deploy() adds a resource to the environment's stack, pushes it through Heat, reads the
# stack's output back into an Out property and reports it (a notification the API stores as a status line).
CLASS = """\
Namespaces:
  =: org.berth.test
  std: io.murano

Name: HeatValue

Extends: std:Application

Properties:
  greeting:
    Contract: $.string().notNull()
  stackOutput:
    Contract: $.string()
    Usage: Out

Methods:
  deploy:
    Body:
      - $env: $.find(std:Environment).require()
      - $env.reporter.report($this, 'Pushing the Heat stack')
      - $template:
          resources:
            greeting:
              type: 'OS::Heat::Value'
              properties:
                value: $.greeting
          outputs:
            greeting:
              value:
                get_attr: [greeting, value]
      - $env.stack.updateTemplate($template)
      - $env.stack.push()
      - $.stackOutput: $env.stack.output().greeting
      - $env.reporter.report($this, 'Heat says ' + $.stackOutput)
"""


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def package_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.yaml", MANIFEST)
        archive.writestr("Classes/HeatValue.yaml", CLASS)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    client = sdk_client()
    remove_deployment(client, DEPLOYMENT)
    added = not ip("-4", "-o", "addr", "show", "to", f"{ADDRESS}/32").stdout.strip()
    if added:
        assert ip("addr", "add", f"{ADDRESS}/32", "dev", "lo").returncode == 0
    root = tmp_path_factory.mktemp("murano")
    config_dir = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=EPMD_PORT, services=SERVICES,
                              extra={"openstack_release": "zed"})
    try:
        started = time.monotonic()
        build_images(config_dir, SERVICES)
        print(f"images: {time.monotonic() - started:.1f}s")
        started = time.monotonic()
        assert main(["--config-dir", str(config_dir), "deploy", "--yes"]) == 0
        print(f"deploy of {', '.join(SERVICES)} (Zed) took {time.monotonic() - started:.1f}s")
        yield {"client": client, "config": config_dir, "passwords": load_config(config_dir).passwords}
    finally:
        main(["--quiet", "--config-dir", str(config_dir), "destroy", "--yes-i-really-really-mean-it"])
        remove_deployment(client, DEPLOYMENT)
        shutil.rmtree(root / "state", ignore_errors=True)
        if added:
            ip("addr", "delete", f"{ADDRESS}/32", "dev", "lo")


@pytest.fixture(scope="module")
def session(env: dict[str, Any]) -> Any:
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    auth = v3.Password(auth_url=f"http://{ADDRESS}:5000/v3", username="admin", project_name="admin",
                       password=env["passwords"]["keystone_admin_password"], user_domain_name="Default",
                       project_domain_name="Default")
    return ks_session.Session(auth=auth, timeout=120)


def get(session: Any, path: str, **kwargs: Any) -> Any:
    return session.get(f"{MURANO}{path}", **kwargs).json()


def heat_url(session: Any) -> str:
    return str(session.get_endpoint(service_type="orchestration", interface="public"))


def test_catalog_has_application_catalog_on_port_8082(session: Any) -> None:
    assert session.get_endpoint(service_type="application-catalog", interface="public") == MURANO
    assert session.get_endpoint(service_type="application-catalog", interface="internal") == MURANO


def test_the_core_library_is_in_the_catalog(session: Any) -> None:
    packages = {p["fully_qualified_name"]: p for p in get(session, "/v1/catalog/packages")["packages"]}
    assert "io.murano" in packages, sorted(packages)
    assert packages["io.murano"]["type"] == "Library" and packages["io.murano"]["is_public"]


def test_secrets_are_in_no_container_log(env: dict[str, Any]) -> None:
    secrets = [env["passwords"][k] for k in ("murano_database_password", "murano_keystone_password")]
    for container in env["client"].containers.list(filters={"label": f"berth.deployment={DEPLOYMENT}"}):
        text = container.logs().decode(errors="replace")
        assert not [s for s in secrets if s in text], container.name


def test_a_package_is_imported_and_its_environment_deployed_through_heat(session: Any) -> None:
    started = time.monotonic()
    metadata = json.dumps({"is_public": False, "tags": ["berth"]})
    package = session.post(f"{MURANO}/v1/catalog/packages", files={
        "__metadata__": (None, metadata, "application/json"),
        "heat-value.zip": ("heat-value.zip", package_zip(), "application/octet-stream")}).json()
    assert (package["fully_qualified_name"], package["type"]) == (APP, "Application")
    assert package["class_definitions"] == [APP]

    # no default networks: a default network is Neutron's (and its security group a stack resource)
    environment = session.post(f"{MURANO}/v1/environments", json={
        "name": f"berth-{uuid.uuid4().hex[:8]}", "defaultNetworks": {"environment": None, "flat": None}}).json()
    env_id = environment["id"]
    configure = session.post(f"{MURANO}/v1/environments/{env_id}/configure").json()
    headers = {"X-Configuration-Session": configure["id"]}
    app = {"?": {"type": APP, "id": str(uuid.uuid4())}, "name": "greeter", "greeting": GREETING}
    added = session.post(f"{MURANO}/v1/environments/{env_id}/services", json=app, headers=headers).json()
    assert added["?"]["type"] == APP
    assert get(session, f"/v1/environments/{env_id}")["status"] == "pending"
    session.post(f"{MURANO}/v1/environments/{env_id}/sessions/{configure['id']}/deploy")
    deploy_started = time.monotonic()

    def settled() -> str | None:
        status = str(get(session, f"/v1/environments/{env_id}")["status"])
        return status if status in ("ready", "deploy failure") else None

    status = wait_for("the environment's deployment to finish", 600, settled, interval=5)
    deployed_in = time.monotonic() - deploy_started
    [deployment] = get(session, f"/v1/environments/{env_id}/deployments")["deployments"]
    reports = get(session, f"/v1/environments/{env_id}/deployments/{deployment['id']}")["reports"]
    texts = [r["text"] for r in reports]
    assert status == "ready", texts
    assert deployment["state"] == "success", texts
    assert f"Heat says {GREETING}" in texts, texts

    [service] = get(session, f"/v1/environments/{env_id}/services")
    assert service["stackOutput"] == GREETING  # the Out property the engine wrote back into the model

    heat = heat_url(session)
    stacks = [s for s in session.get(f"{heat}/stacks").json()["stacks"] if s["stack_name"].startswith("murano-")]
    assert len(stacks) == 1 and stacks[0]["stack_status"] == "CREATE_COMPLETE", stacks
    stack = session.get(f"{heat}/stacks/{stacks[0]['stack_name']}/{stacks[0]['id']}").json()["stack"]
    assert {o["output_key"]: o["output_value"] for o in stack["outputs"]} == {"greeting": GREETING}
    assert "murano" in (stack.get("tags") or [])

    # deleting the environment runs the engine again: the region's stack is deleted with it
    session.delete(f"{MURANO}/v1/environments/{env_id}")
    delete_started = time.monotonic()

    def gone() -> bool:
        listed = [e["id"] for e in get(session, "/v1/environments")["environments"]]
        names = [s["stack_name"] for s in session.get(f"{heat}/stacks").json()["stacks"]]
        return env_id not in listed and stacks[0]["stack_name"] not in names

    wait_for("the environment and its stack deleted", 600, gone, interval=5)
    print(f"import to ready {deploy_started - started:.1f}s + deploy {deployed_in:.1f}s; "
          f"delete {time.monotonic() - delete_started:.1f}s")


def test_a_plan_after_the_deploy_has_nothing_to_do(env: dict[str, Any]) -> None:
    plan = snapshot(load_config(env["config"]), connect()).plan
    assert not plan.has_changes, plan.changes
