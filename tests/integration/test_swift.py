"""Deploy Swift (with MariaDB, Memcached and Keystone) on the real engine and store objects in it for real.

Two devices on the one host, so two replicas: a replica removed from one device comes back through the
replicator and the rsync daemon. Glance runs in the same deployment with `glance_backend: swift` (its images are
objects in Swift's `glance` container): one deployment for both saves CI time.

Own deployment (`bswift`), own loopback address (127.0.0.62, added to `lo` here and removed at the end), own
config/state/log directories and its own image namespace (`bswift`: building never retags another deployment's
images); no RabbitMQ, so no Erlang ports. Leftovers of an earlier run are removed first, everything at the end
(the data directory too: the last test shows that destroy keeps it unless given --include-data).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from berth.cli.main import main
from berth.engine import labels
from tests.sandbox import build_images, remove_deployment, sdk_client, wait_for, write_config

pytestmark = pytest.mark.integration

DEPLOYMENT = "bswift"
ADDRESS = "127.0.0.62"
SERVICES = ("mariadb", "memcached", "keystone", "swift", "glance")
IMAGES = ("mariadb", "memcached", "keystone", "swift-proxy", "swift-account", "swift-container", "swift-object",
          "glance-api")


def _address(action: str) -> None:
    subprocess.run(["ip", "addr", action, f"{ADDRESS}/32", "dev", "lo"], capture_output=True, check=False)


def started(client: docker.DockerClient) -> dict[str, str]:
    """StartedAt of every container of the deployment: equal before and after means nothing was restarted."""
    return {c.name: c.attrs["State"]["StartedAt"]
            for c in client.containers.list(all=True, filters={"label": f"{labels.DEPLOYMENT}={DEPLOYMENT}"})}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    client = sdk_client()
    remove_deployment(client, DEPLOYMENT)
    _address("add")
    root = tmp_path_factory.mktemp("swift")
    config_dir = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4462, services=SERVICES,
                              extra={"image_namespace": "bswift", "swift_devices": 2,
                                     "glance_backend": "swift"})
    try:
        build_images(config_dir, IMAGES)
        start = time.monotonic()
        assert main(["--config-dir", str(config_dir), "deploy", "--yes"]) == 0
        print(f"deploy of {len(SERVICES)} services took {time.monotonic() - start:.1f}s")
        yield {"client": client, "config": config_dir, "root": root,
               "data": root / "state" / DEPLOYMENT / "data" / "swift"}
    finally:
        remove_deployment(client, DEPLOYMENT)
        shutil.rmtree(root / "state", ignore_errors=True)  # data/ too, whatever a failed test left
        _address("delete")


def connect(env: dict[str, Any], user: str, project: str, password_key: str) -> Any:
    import openstack

    passwords = yaml.safe_load((env["config"] / "passwords.yml").read_text())
    return openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username=user, project_name=project,
                             password=passwords[password_key], user_domain_name="Default",
                             project_domain_name="Default", region_name="RegionOne", identity_api_version="3",
                             load_yaml_config=False, load_envvars=False)


@pytest.fixture(scope="module")
def cloud(env: dict[str, Any]) -> Any:
    return connect(env, "admin", "admin", "keystone_admin_password")


def test_object_store_is_in_the_catalog(cloud: Any) -> None:
    service = next(s for s in cloud.identity.services() if s.type == "object-store")
    urls = {e.interface: e.url for e in cloud.identity.endpoints(service_id=service.id)}
    assert urls == {i: f"http://{ADDRESS}:8080/v1/AUTH_%(project_id)s" for i in ("public", "internal")}
    assert cloud.object_store.get_endpoint() == f"http://{ADDRESS}:8080/v1/AUTH_{cloud.current_project_id}"
    assert {"swiftoperator", "ResellerAdmin"} <= {r.name for r in cloud.identity.roles()}


def replicas(env: dict[str, Any], pattern: str) -> list[Path]:
    return sorted(env["data"].glob(f"d*/{pattern}"))


def test_objects_round_trip(cloud: Any, env: dict[str, Any]) -> None:
    data = os.urandom(3 << 20) + b"berth"
    store = cloud.object_store
    store.create_container(name="berth-swift-test")
    try:
        store.upload_object(container="berth-swift-test", name="blob", data=data)
        assert [o.name for o in store.objects("berth-swift-test")] == ["blob"]
        body = store.download_object("blob", container="berth-swift-test")
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
        # two replicas: one file on each device, host directories d0 and d1
        files = replicas(env, "objects/*/*/*/*.data")
        assert [f.parts[-6] for f in files] == ["d0", "d1"] and {f.stat().st_size for f in files} == {len(data)}
        store.delete_object("blob", container="berth-swift-test")
        assert [o.name for o in store.objects("berth-swift-test")] == []
    finally:
        store.delete_container("berth-swift-test", ignore_missing=True)
    assert "berth-swift-test" not in [c.name for c in store.containers()]


def test_glance_keeps_images_as_objects_in_swift(cloud: Any, env: dict[str, Any]) -> None:
    """glance_backend swift: an uploaded image is the object `<image id>` in the container `glance` (made by
    Glance at its first upload) of the service project's account, and downloads with the same bytes."""
    data = os.urandom(5 << 20) + b"berth-glance"
    start = time.monotonic()
    made = cloud.image.create_image("berth-swift-image", data=data, disk_format="raw", container_format="bare",
                                    validate_checksum=False)  # the data goes up in one PUT, then Glance has it
    image = wait_for("the image to be active", 60, lambda: (i := cloud.image.get_image(made.id)).status == "active"
                     and i, interval=0.5)
    print(f"5 MiB image upload to Glance on Swift -> active: {time.monotonic() - start:.1f}s")
    glance = connect(env, "glance", "service", "glance_keystone_password").object_store
    try:
        assert image.status == "active" and image.size == len(data), (image.status, image.size)
        body = cloud.image.download_image(image).content
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
        objects = {o.name: o.content_length for o in glance.objects("glance")}
        assert objects.get(image.id) == len(data), objects
    finally:
        cloud.image.delete_image(image, ignore_missing=True)
    wait_for("Glance to delete the object", 60,
             lambda: image.id not in {o.name for o in glance.objects("glance")}, interval=1)


def test_a_lost_replica_comes_back_through_rsync(cloud: Any, env: dict[str, Any]) -> None:
    data = os.urandom(1 << 20)
    store = cloud.object_store
    store.create_container(name="berth-swift-repl")
    try:
        store.upload_object(container="berth-swift-repl", name="blob", data=data)
        lost = next(f for f in replicas(env, "objects/*/*/*/*.data") if f.parts[-6] == "d1")
        partition = lost.parents[2]
        shutil.rmtree(partition)  # the whole partition of device d1, as a failed disk would lose it
        wait_for("the object replicator to copy the partition back", 180, lambda: lost.is_file(), interval=3)
        assert lost.read_bytes() == data and lost.stat().st_uid == partition.parent.parent.stat().st_uid
        store.delete_object("blob", container="berth-swift-repl")
    finally:
        store.delete_container("berth-swift-repl", ignore_missing=True)


def test_every_container_is_healthy(env: dict[str, Any]) -> None:
    deadline = time.monotonic() + 120  # docker's own first probe comes one interval after the start
    while True:
        states = {c.name: c.attrs["State"].get("Health", {}).get("Status")
                  for c in env["client"].containers.list(filters={"label": f"{labels.DEPLOYMENT}={DEPLOYMENT}"})}
        if all(s == "healthy" for s in states.values()) or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert len(states) == 18 and all(s == "healthy" for s in states.values()), states


def test_redeploy_changes_nothing(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    before = started(env["client"])
    assert main(["--config-dir", str(env["config"]), "deploy", "--yes"]) == 0
    assert started(env["client"]) == before
    assert "nothing to do" in capsys.readouterr().out


def test_destroy_keeps_the_devices_unless_asked(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    config = ["--config-dir", str(env["config"])]
    assert main([*config, "destroy", "--yes-i-really-really-mean-it"]) == 0
    assert "keep    data" in capsys.readouterr().out
    assert not started(env["client"])
    assert replicas(env, "accounts/*/*/*/*.db")  # the account databases the tests made are still there
    state = env["root"] / "state" / DEPLOYMENT
    assert sorted(p.name for p in state.iterdir()) == ["data"]
    assert main([*config, "destroy", "--yes-i-really-really-mean-it", "--include-data"]) == 0
    assert not (state / "data" / "swift").exists()
