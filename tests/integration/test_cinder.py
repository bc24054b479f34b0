"""Deploy Cinder on Ceph with only what it needs (MariaDB, RabbitMQ, memcached, Keystone, Ceph) and use it through
openstacksdk: the catalog, the services up, a volume that is an RBD image in the `volumes` pool, a snapshot, a
backup into the `backups` pool restored to a new volume with the same bytes, everything deleted again, and a
re-deploy that changes nothing.

Own deployment (`bcinder`) on its own loopback address (127.0.0.64, added to lo for the run), own Erlang ports,
own image namespace, config, state, log and Ceph data directories under a temporary directory; leftovers of an
earlier run are removed first, everything (containers, volumes, data, the address) at the end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import pytest

from berth.cli.main import main
from berth.config.loader import load_config
from berth.engine import connect
from berth.lifecycle.deploy import snapshot
from tests.sandbox import build_images, remove_deployment, sdk_client, wait_for, write_config

# extended: the e2e cloud (tests/e2e/aio/test_storage_cloud.py) attaches, snapshots, backs up and restores
# volumes through the guest within CI's time budget; this module keeps the deeper checks on a deployment of its own
pytestmark = [pytest.mark.integration, pytest.mark.extended]

DEPLOYMENT = "bcinder"
ADDRESS = "127.0.0.64"
SERVICES = ("mariadb", "rabbitmq", "memcached", "keystone", "ceph", "cinder")
VOLUME = f"{DEPLOYMENT}-cinder_volume"
MARKER = b"berth-cinder-marker"
# the volume's first bytes through librbd as client.cinder, run in the cinder_volume container as `cinder`
RBD_IO = """
import sys, rados, rbd
cluster = rados.Rados(conffile="/etc/ceph/ceph.conf", rados_id="cinder")
cluster.connect()
with cluster.open_ioctx("volumes") as ioctx, rbd.Image(ioctx, sys.argv[2]) as image:
    if sys.argv[1] == "write":
        image.write(sys.argv[3].encode(), 0)
        image.flush()
    else:
        sys.stdout.write(image.read(0, int(sys.argv[3])).decode(errors="replace"))
cluster.shutdown()
"""


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def in_volume(client: docker.DockerClient, *argv: str) -> tuple[int, str]:
    code, out = client.containers.get(VOLUME).exec_run(list(argv), user="cinder")
    return code, out.decode()


def rbd_ls(client: docker.DockerClient) -> list[str]:
    code, out = in_volume(client, "rbd", "--id", "cinder", "ls", "volumes", "--format", "json")
    assert code == 0, out
    return list(json.loads(out))


def settle_backup_service(client: docker.DockerClient) -> None:
    """The scheduler sends backups only to a cinder-backup that reported a working driver: its first report comes
    from a periodic task, within ~15 s of its start with berth's settings (docs/storage.md). Wait that long."""
    started = client.containers.get(f"{DEPLOYMENT}-cinder_backup").attrs["State"]["StartedAt"]
    since = datetime.now(UTC) - datetime.fromisoformat(started[:19] + "+00:00")
    time.sleep(max(0.0, 20 - since.total_seconds()))


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
    root = tmp_path_factory.mktemp("cinder")
    data = root / "data"
    config_dir = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4391, services=SERVICES,
                              extra={"ceph_data_dir": str(data), "ceph_osd_size_gb": 2,
                                     "image_namespace": DEPLOYMENT})
    try:
        build_images(config_dir, SERVICES)
        print(f"deploy of {', '.join(SERVICES)} took {deploy(config_dir):.1f}s")
        yield {"client": client, "config": config_dir, "passwords": load_config(config_dir).passwords}
    finally:
        main(["--quiet", "--config-dir", str(config_dir), "destroy", "--yes-i-really-really-mean-it",
              "--include-data"])
        remove_deployment(client, DEPLOYMENT)
        shutil.rmtree(data, ignore_errors=True)
        if added:
            ip("addr", "delete", f"{ADDRESS}/32", "dev", "lo")


@pytest.fixture(scope="module")
def cloud(env: dict[str, Any]) -> Any:
    import openstack

    return openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username="admin", project_name="admin",
                             password=env["passwords"]["keystone_admin_password"], user_domain_name="Default",
                             project_domain_name="Default", region_name="RegionOne", identity_api_version="3",
                             load_yaml_config=False, load_envvars=False)


def test_catalog_has_block_storage_under_both_types(cloud: Any) -> None:
    services = {s.type: s.id for s in cloud.identity.services()}
    assert {"block-storage", "volumev3"} <= set(services)
    for kind in ("block-storage", "volumev3"):
        urls = {e.url for e in cloud.identity.endpoints(service_id=services[kind]) if e.interface == "public"}
        assert urls == {f"http://{ADDRESS}:8776/v3/%(project_id)s"}, kind


def test_scheduler_volume_and_backup_are_up(cloud: Any) -> None:
    def up() -> set[str]:
        return {s.binary for s in cloud.block_storage.services() if s.state == "up" and s.status == "enabled"}

    wait_for("cinder services up", 90, lambda: {"cinder-scheduler", "cinder-volume", "cinder-backup"} <= up())
    hosts = {s.binary: s.host for s in cloud.block_storage.services()}
    assert hosts["cinder-volume"] == "rbd:volumes@rbd"


def test_keyrings_are_the_clients_keys_readable_by_cinder_only(env: dict[str, Any]) -> None:
    for name, key in (("cinder", "ceph_client_cinder_key"), ("cinder-backup", "ceph_client_cinder_backup_key")):
        path = f"/etc/ceph/ceph.client.{name}.keyring"
        code, out = env["client"].containers.get(f"{DEPLOYMENT}-cinder_backup").exec_run(
            ["stat", "-c", "%a %U", path])
        assert (code, out.decode().split()) == (0, ["600", "cinder"]), path
        code, out = env["client"].containers.get(f"{DEPLOYMENT}-cinder_backup").exec_run(["cat", path])
        assert env["passwords"][key] in out.decode()


def test_volume_snapshot_backup_and_restore(cloud: Any, env: dict[str, Any]) -> None:
    client, storage = env["client"], cloud.block_storage
    made: list[tuple[str, Any]] = []
    try:
        start = time.monotonic()
        volume = storage.create_volume(size=1, name="berth-cinder-test")
        made.append(("volume", volume))
        volume = storage.wait_for_status(volume, "available", failures=["error"], interval=0.5, wait=120)
        print(f"volume create -> available took {time.monotonic() - start:.1f}s")
        assert f"volume-{volume.id}" in rbd_ls(client)
        assert in_volume(client, "python3", "-c", RBD_IO, "write", f"volume-{volume.id}", MARKER.decode())[0] == 0

        snap = storage.create_snapshot(volume_id=volume.id, name="berth-cinder-snap")
        made.append(("snapshot", snap))
        storage.wait_for_status(snap, "available", failures=["error"], interval=1, wait=120)

        settle_backup_service(client)
        start = time.monotonic()
        backup = storage.create_backup(volume_id=volume.id, name="berth-cinder-backup")
        made.append(("backup", backup))
        backup = storage.wait_for_status(backup, "available", failures=["error"], interval=1, wait=300)
        print(f"backup -> available took {time.monotonic() - start:.1f}s")
        code, out = env["client"].containers.get(f"{DEPLOYMENT}-cinder_backup").exec_run(
            ["rbd", "--id", "cinder-backup", "ls", "backups"], user="cinder")
        assert code == 0 and out.decode().split(), out.decode()  # the backup is an RBD image in `backups`

        start = time.monotonic()
        restored = storage.restore_backup(backup, name="berth-cinder-restored")
        target = storage.get_volume(restored.volume_id)
        made.append(("volume", target))
        storage.wait_for_status(backup, "available", failures=["error"], interval=1, wait=300)
        target = storage.wait_for_status(target, "available", failures=["error", "error_restoring"], interval=1,
                                         wait=300)
        print(f"restore -> available took {time.monotonic() - start:.1f}s")
        code, out = in_volume(client, "python3", "-c", RBD_IO, "read", f"volume-{target.id}", str(len(MARKER)))
        assert (code, out) == (0, MARKER.decode())
    finally:
        for kind, item in reversed(made):
            getattr(storage, f"delete_{kind}")(item, ignore_missing=True)
            storage.wait_for_delete(item, interval=1, wait=180)
    assert not [name for name in rbd_ls(client) if name.startswith("volume-")]


def test_a_redeploy_changes_nothing(env: dict[str, Any]) -> None:
    selector = {"label": f"berth.deployment={DEPLOYMENT}"}
    before = {c.name: c.id for c in env["client"].containers.list(filters=selector)}
    plan = snapshot(load_config(env["config"]), connect()).plan
    assert not plan.has_changes, plan.changes
    deploy(env["config"])
    assert {c.name: c.id for c in env["client"].containers.list(filters=selector)} == before
