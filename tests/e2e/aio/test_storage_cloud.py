"""Storage in the shared all-in-one cloud (conftest.py's `cloud`: Ceph, Cinder, Glance and Nova on RBD): images in
Ceph's `images` pool boot as copy-on-write clones in `vms`, a volume attached to a running server keeps what the
test guest wrote on it across a detach and a re-attach (qemu's RBD driver in nova_libvirt, libvirt's secret of
client.cinder), and a server boots from a volume Cinder cloned from an image.

Every check uses the real services berth built and deployed: openstacksdk against the cloud's APIs, the guest's
console log, and Ceph's own `rbd` in the ceph_mon container.
"""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

import pytest

from berth.guest.qemu import MARKER
from tests.e2e.cloud_env import CloudEnv
from tests.e2e.guest_disks import attach, console, detach, disk_events, wait_disk_event
from tests.sandbox import wait_for

pytestmark = pytest.mark.e2e

GUEST_IMAGES = ("berth-test-guest", "berth-test-kernel", "berth-test-ramdisk")
MARKED: dict[str, tuple[str, str]] = {}  # server id -> (the volume the guest marked, its token)


def rbd(env: CloudEnv, *args: str) -> str:
    """Ceph's `rbd` as client.admin inside this deployment's monitor container."""
    proc = subprocess.run(["docker", "exec", f"{env.deployment}-ceph_mon", "rbd", *args], capture_output=True,
                          text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def conn(cloud: dict[str, Any]) -> Any:
    return cloud["env"].sdk()


def _boot(conn: Any, name: str, **attrs: Any) -> tuple[Any, float]:
    """A server of the test guest on demo-net until ACTIVE and its marker on the console: (server, seconds)."""
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    network = conn.network.find_network("demo-net", ignore_missing=False)
    start = time.monotonic()
    server = conn.compute.create_server(name=name, flavor_id=flavor.id, networks=[{"uuid": network.id}], **attrs)
    server = conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"], interval=1, wait=240)
    wait_for(f"{name}'s marker on the console", 180, lambda: MARKER in console(conn, server.id), interval=1)
    return server, time.monotonic() - start


@pytest.fixture(scope="module")
def server(conn: Any) -> Any:
    image = conn.image.find_image("berth-test-guest", ignore_missing=False)
    server, seconds = _boot(conn, "e2e-storage-vm", image_id=image.id)
    print(f"server from the RBD image: ACTIVE with its marker after {seconds:.1f}s")
    return server


def test_volume_services_are_up_and_images_live_in_ceph(cloud: dict[str, Any], conn: Any) -> None:
    env: CloudEnv = cloud["env"]
    services = list(conn.block_storage.services())
    assert {"cinder-scheduler", "cinder-volume", "cinder-backup"} <= {s.binary for s in services}
    assert all(s.state == "up" for s in services), [(s.binary, s.state) for s in services]
    in_pool = set(rbd(env, "ls", "images").split())
    for name in GUEST_IMAGES:
        image = conn.image.find_image(name, ignore_missing=False)
        assert image.id in in_pool, f"{name} ({image.id}) is not in Ceph's images pool: {sorted(in_pool)}"
        # the location Glance shows the services (show_image_direct_url): what Cinder clones volumes from
        assert str(image.direct_url).startswith("rbd://") and image.id in str(image.direct_url), image.direct_url


def test_a_servers_root_disk_is_an_rbd_clone_of_its_image_in_the_vms_pool(cloud: dict[str, Any], conn: Any,
                                                                         server: Any) -> None:
    """nova_backend rbd: nova-compute made the server's disk `vms/<id>_disk` as a copy-on-write clone of the
    Glance image's snapshot in `images` (no download), and qemu runs it from Ceph (the domain's disk is RBD)."""
    env: CloudEnv = cloud["env"]
    image = conn.image.find_image("berth-test-guest", ignore_missing=False)
    assert f"{server.id}_disk" in rbd(env, "ls", "vms").split()
    info = rbd(env, "info", f"vms/{server.id}_disk")
    assert f"parent: images/{image.id}@snap" in info, info
    domain = subprocess.run(["docker", "exec", f"{env.deployment}-nova_libvirt", "virsh", "-c", "qemu:///system",
                             "dumpxml", server.id], capture_output=True, text=True, check=True, timeout=60).stdout
    assert f"protocol='rbd' name='vms/{server.id}_disk'" in domain and "<auth username='nova'>" in domain, domain


def test_attached_volume_keeps_the_guests_marker_across_detach_and_reattach(cloud: dict[str, Any], conn: Any,
                                                                           server: Any) -> None:
    env: CloudEnv = cloud["env"]
    volume = conn.block_storage.create_volume(size=1, name="e2e-attach")
    conn.block_storage.wait_for_status(volume, "available", failures=["error"], interval=0.5, wait=120)
    assert f"volume-{volume.id}" in rbd(env, "ls", "volumes").split()
    try:
        start = time.monotonic()
        attach(conn, server.id, volume.id)
        (dev, what, token), _ = wait_disk_event(conn, server.id, 0)
        print(f"attach -> the guest wrote its marker on {dev}: {time.monotonic() - start:.1f}s")
        assert what == "wrote" and token, (dev, what, token)
        start = time.monotonic()
        detach(conn, server.id, volume.id)
        assert wait_disk_event(conn, server.id, 1)[0] == (dev, "gone", "")
        print(f"detach -> the guest saw {dev} go: {time.monotonic() - start:.1f}s")
        start = time.monotonic()
        attach(conn, server.id, volume.id)
        (dev2, what2, token2), _ = wait_disk_event(conn, server.id, 2)
        print(f"re-attach -> the guest found its marker on {dev2}: {time.monotonic() - start:.1f}s")
        assert (what2, token2) == ("found", token), (dev2, what2, token2)
        detach(conn, server.id, volume.id)
        MARKED[server.id] = (volume.id, token)  # the next test backs it up
    except BaseException:
        conn.block_storage.delete_volume(volume, ignore_missing=True)
        raise


def test_a_snapshot_and_a_backup_restored_to_a_new_volume_keep_the_guests_marker(cloud: dict[str, Any],
                                                                                 conn: Any, server: Any) -> None:
    """The marked volume of the test above: a snapshot, a backup (an RBD image in Ceph's `backups` pool, by
    cinder-backup), the backup restored to a new volume; attached, the guest finds its own marker there."""
    env: CloudEnv = cloud["env"]
    if server.id not in MARKED:
        pytest.skip("the attach test above left no marked volume")
    volume_id, token = MARKED[server.id]
    storage, made = conn.block_storage, []
    try:
        snapshot = storage.create_snapshot(volume_id=volume_id, name="e2e-snapshot")
        made.append(("snapshot", snapshot))
        storage.wait_for_status(snapshot, "available", failures=["error"], interval=1, wait=120)
        start = time.monotonic()
        backup = storage.create_backup(volume_id=volume_id, name="e2e-backup")
        made.append(("backup", backup))
        backup = storage.wait_for_status(backup, "available", failures=["error"], interval=1, wait=300)
        print(f"backup of the 1 GiB volume -> available: {time.monotonic() - start:.1f}s")
        assert rbd(env, "ls", "backups").split(), "the backup is an RBD image in the backups pool"
        start = time.monotonic()
        restored = storage.restore_backup(backup, name="e2e-restored")
        target = storage.get_volume(restored.volume_id)
        made.append(("volume", target))
        storage.wait_for_status(target, "available", failures=["error", "error_restoring"], interval=1, wait=300)
        storage.wait_for_status(backup, "available", failures=["error"], interval=1, wait=300)
        print(f"restore -> a new volume available: {time.monotonic() - start:.1f}s")
        seen = len(disk_events(console(conn, server.id)))
        attach(conn, server.id, target.id)
        (_dev, what, found), _ = wait_disk_event(conn, server.id, seen)
        assert (what, found) == ("found", token), "the restored volume holds what the guest wrote"
        detach(conn, server.id, target.id)
    finally:
        for kind, item in reversed(made):
            getattr(storage, f"delete_{kind}")(item, ignore_missing=True)
            storage.wait_for_delete(item, interval=1, wait=180)
        storage.delete_volume(volume_id, ignore_missing=True)


def test_server_boots_from_a_volume_cloned_from_an_image(cloud: dict[str, Any], conn: Any) -> None:
    env: CloudEnv = cloud["env"]
    image = conn.image.find_image("berth-test-guest", ignore_missing=False)
    start = time.monotonic()
    volume = conn.block_storage.create_volume(size=1, image_id=image.id, name="e2e-boot-volume")
    conn.block_storage.wait_for_status(volume, "available", failures=["error"], interval=0.5, wait=180)
    print(f"volume from the image: available after {time.monotonic() - start:.1f}s")
    # Glance shows the image's rbd:// location, so Cinder made the volume a copy-on-write clone of it in Ceph
    assert f"images/{image.id}@snap" in rbd(env, "info", f"volumes/volume-{volume.id}")
    bdm = [{"boot_index": 0, "uuid": volume.id, "source_type": "volume", "destination_type": "volume",
            "delete_on_termination": False}]
    server, seconds = _boot(conn, "e2e-boot-from-volume", block_device_mapping_v2=bdm)
    print(f"server from the volume: ACTIVE with its marker after {seconds:.1f}s")
    try:
        # the guest names itself from the metadata service: its UUID, or (the guest's fallback when the
        # OpenStack metadata path is slow on a loaded host) the EC2 id of the same instance
        instance = conn.compute.get_server(server.id).instance_name or ""
        ids = {server.id, "i-" + instance.removeprefix("instance-")}
        said = re.findall(r"BERTH-INSTANCE-ID (\S+)", console(conn, server.id))
        assert said and said[-1] in ids, (said, ids)
        attached = conn.block_storage.get_volume(volume.id)
        assert attached.status == "in-use" and attached.attachments[0]["server_id"] == server.id
        assert not getattr(conn.compute.get_server(server.id), "image", {}).get("id")  # no image: the volume
        assert f"{server.id}_disk" not in rbd(env, "ls", "vms").split()  # nor a disk of its own in `vms`
    finally:
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120)
        conn.block_storage.delete_volume(volume, ignore_missing=True)


def test_every_disk_left_in_the_vms_pool_belongs_to_a_live_server(cloud: dict[str, Any], conn: Any) -> None:
    """The package's servers that came and went (test_cloud.py's among them) took their RBD disks with them."""
    live = {s.id for s in conn.compute.servers(all_projects=True)}
    disks = rbd(cloud["env"], "ls", "vms").split()
    assert disks, "the servers of the package have their disks in vms"
    assert {d.removesuffix("_disk") for d in disks} <= live, (disks, live)
