"""Cinder renders for the all-in-one and for a three-host inventory: API and scheduler on the control host, volume
and backup on the storage hosts, RBD on Ceph's pools with the clients' keys (mode 0600), the catalog under both
service types, off by default.

Pure: no engine, TEST-NET addresses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.config.loader import Config, load_config
from berth.lifecycle.render import Renderer, render_desired
from berth.state.desired import DesiredState
from tests.unit.services import rendering
from tests.unit.services.rendering import container, files_json, ini

INVENTORY = """\
[control]
control01 ansible_host=198.51.100.11
[network:children]
control
[compute]
compute01 ansible_host=198.51.100.21
[storage]
storage01 ansible_host=198.51.100.31
storage02 ansible_host=198.51.100.32
storage03 ansible_host=198.51.100.33
[monitoring]
[deployment]
control01
"""
STORAGE = ("storage01", "storage02", "storage03")
CONTROL = ("cinder_api", "cinder_scheduler")
STORAGE_SIDE = ("cinder_volume", "cinder_backup")
ON = "enable_ceph: true\nenable_cinder: true\n"


def config_dir(root: Path, extra: str = ON, inventory: bool = False) -> Path:
    return rendering.config_dir(root, extra, INVENTORY if inventory else "")


@pytest.fixture(scope="module")
def aio_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(config_dir(tmp_path_factory.mktemp("cinder-aio")))


@pytest.fixture(scope="module")
def aio(aio_config: Config) -> DesiredState:
    return render_desired(aio_config, {}, pins={})


@pytest.fixture(scope="module")
def many_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    root = config_dir(tmp_path_factory.mktemp("cinder-three"), inventory=True)
    return load_config(root, inventory_path=root / "multinode")


@pytest.fixture(scope="module")
def many(many_config: Config) -> dict[str, DesiredState]:
    return {host: render_desired(many_config, {}, host, pins={}) for host in (*STORAGE, "control01", "compute01")}





def test_off_by_default(tmp_path: Path) -> None:
    desired = render_desired(load_config(config_dir(tmp_path, extra="enable_ceph: true\n")), {}, pins={})
    assert not desired.containers_of("cinder") and not desired.steps_of("cinder")


def test_all_in_one_runs_four_containers_after_ceph(aio: DesiredState) -> None:
    assert [c.key for c in aio.containers_of("cinder")] == [*CONTROL, *STORAGE_SIDE]
    assert {c.image for c in aio.containers_of("cinder")} == {
        "berth/cinder-api:epoxy", "berth/cinder-scheduler:epoxy", "berth/cinder-volume:epoxy",
        "berth/cinder-backup:epoxy"}
    unit = next(u for u in aio.services if u.name == "cinder")
    assert set(unit.depends_on) == {"mariadb", "rabbitmq", "memcached", "keystone", "ceph"}
    assert [(s.name, s.kind) for s in aio.steps_of("cinder")] == [
        ("database-cinder", "database"), ("db-sync", "oneshot"), ("keystone-register", "register")]
    for item in aio.containers_of("cinder"):
        assert item.spec["network_mode"] == "host" and not item.spec["privileged"] and not item.spec["cap_add"]
        assert json.loads(item.files["config.json"])["user"] == "cinder"
    assert container(aio, "cinder_api").health == ("http", "http://127.0.0.1:8776/")
    for key in ("cinder_scheduler", *STORAGE_SIDE):
        assert container(aio, key).health == ("cmd", "--", "berth-rpc-health", key.replace("_", "-"))


def test_cinder_conf_uses_the_shared_pieces(aio: DesiredState, aio_config: Config) -> None:
    conf = ini(container(aio, "cinder_api").files["cinder.conf"])
    password = aio_config.passwords["cinder_database_password"]
    assert conf["database"]["connection"] == f"mysql+pymysql://cinder:{password}@127.0.0.1:3306/cinder"
    assert conf["DEFAULT"]["transport_url"].startswith("rabbit://openstack:")
    assert conf["keystone_authtoken"]["username"] == "cinder"
    assert conf["keystone_authtoken"]["memcached_servers"] == "127.0.0.1:11211"
    assert conf["cache"]["memcache_servers"] == "127.0.0.1:11211"
    assert conf["oslo_messaging_notifications"]["driver"] == "noop"
    uwsgi = container(aio, "cinder_api").files["cinder-api-uwsgi.ini"]
    assert "wsgi-file = /usr/bin/cinder-wsgi" in uwsgi and "http-socket = 127.0.0.1:8776" in uwsgi


def test_volumes_are_rbd_in_the_volumes_pool_and_backups_in_backups(aio: DesiredState, aio_config: Config) -> None:
    conf = ini(container(aio, "cinder_volume").files["cinder.conf"])
    assert conf["DEFAULT"]["enabled_backends"] == "rbd"
    rbd = conf["rbd"]
    assert rbd["volume_driver"] == "cinder.volume.drivers.rbd.RBDDriver"
    assert (rbd["rbd_pool"], rbd["rbd_user"], rbd["backend_host"]) == ("volumes", "cinder", "rbd:volumes")
    assert rbd["rbd_secret_uuid"] == aio_config.passwords["cinder_rbd_secret_uuid"]
    assert conf["DEFAULT"]["backup_driver"] == "cinder.backup.drivers.ceph.CephBackupDriver"
    assert (conf["DEFAULT"]["backup_ceph_user"], conf["DEFAULT"]["backup_ceph_pool"]) == ("cinder-backup", "backups")
    ceph = ini(container(aio, "cinder_volume").files["ceph.conf"])
    assert ceph["global"]["fsid"] == aio_config.passwords["ceph_fsid"]
    assert ceph["global"]["mon_host"] == "[v2:127.0.0.1:3300,v1:127.0.0.1:6789]"


def test_backup_reports_soon_and_privsep_keeps_no_capability(aio: DesiredState) -> None:
    backup = ini(container(aio, "cinder_backup").files["cinder.conf"])
    assert (backup["DEFAULT"]["periodic_interval"], backup["DEFAULT"]["backup_driver_stats_polling_interval"]) == (
        "10", "10")
    assert "periodic_interval" not in ini(container(aio, "cinder_volume").files["cinder.conf"])["DEFAULT"]
    for key in STORAGE_SIDE:  # no capability is given to the containers, so their privsep daemons keep none
        conf = ini(container(aio, key).files["cinder.conf"])
        assert conf["privsep_osbrick"]["capabilities"] == conf["cinder_sys_admin"]["capabilities"] == ""


def test_keyrings_hold_each_clients_key_with_mode_0600(aio: DesiredState, aio_config: Config) -> None:
    cinder_key = aio_config.passwords["ceph_client_cinder_key"]
    backup_key = aio_config.passwords["ceph_client_cinder_backup_key"]
    volume, backup = container(aio, "cinder_volume"), container(aio, "cinder_backup")
    assert volume.files["ceph.client.cinder.keyring"].startswith(f"[client.cinder]\n    key = {cinder_key}\n")
    assert "ceph.client.cinder-backup.keyring" not in volume.files
    assert backup_key in backup.files["ceph.client.cinder-backup.keyring"]
    assert cinder_key in backup.files["ceph.client.cinder.keyring"]  # a backup reads the volume as client.cinder
    for item in (volume, backup):
        for dest, entry in files_json(item).items():
            if dest.endswith(".keyring"):
                assert (entry["mode"], entry["owner"]) == ("0600", "cinder"), dest
    for key in ("cinder_api", "cinder_scheduler"):  # the control side never sees a Ceph key
        assert not [name for name in container(aio, key).files if name.endswith(".keyring")]
    assert {cinder_key, backup_key, aio_config.passwords["cinder_rbd_secret_uuid"]} <= aio.secrets


def test_the_catalog_has_block_storage_and_volumev3(aio: DesiredState) -> None:
    step = next(s for s in aio.steps_of("cinder") if s.kind == "register")
    assert [(s["name"], s["type"]) for s in step.payload["services"]] == [
        ("cinder", "block-storage"), ("cinderv3", "volumev3")]
    urls = {e["service"]: e["urls"] for e in step.payload["endpoints"]}
    for service in ("cinder", "cinderv3"):
        assert urls[service] == {"public": "http://127.0.0.1:8776/v3/%(project_id)s",
                                 "internal": "http://127.0.0.1:8776/v3/%(project_id)s"}
    assert [u["name"] for u in step.payload["users"]] == ["cinder"]


def test_three_hosts_api_on_control_volume_and_backup_on_every_storage_host(many: dict[str, DesiredState]) -> None:
    assert [c.key for c in many["control01"].containers_of("cinder")] == list(CONTROL)
    assert not many["compute01"].containers_of("cinder")
    for host, address in zip(STORAGE, ("198.51.100.31", "198.51.100.32", "198.51.100.33"), strict=True):
        assert [c.key for c in many[host].containers_of("cinder")] == list(STORAGE_SIDE)
        conf = ini(container(many[host], "cinder_volume").files["cinder.conf"])
        assert (conf["DEFAULT"]["host"], conf["DEFAULT"]["my_ip"]) == (host, address)
        assert conf["rbd"]["backend_host"] == "rbd:volumes"  # every storage host serves every volume
        assert conf["database"]["connection"].endswith("@198.51.100.11:3306/cinder")
        ceph = ini(container(many[host], "cinder_volume").files["ceph.conf"])
        assert ceph["global"]["mon_host"] == ",".join(
            f"[v2:198.51.100.3{n}:3300,v1:198.51.100.3{n}:6789]" for n in (1, 2, 3))
        assert not many[host].steps_of("cinder")
    # the database, db-sync and registration once, where the API runs
    assert [s.name for s in many["control01"].steps_of("cinder")] == ["database-cinder", "db-sync",
                                                                    "keystone-register"]
    api = ini(container(many["control01"], "cinder_api").files["cinder.conf"])
    assert api["DEFAULT"]["osapi_volume_listen"] == "198.51.100.11"


def test_the_api_is_behind_the_vip_with_haproxy(tmp_path: Path) -> None:
    extra = ON + "internal_vip_address: 198.51.100.100\nenable_haproxy: true\nenable_keepalived: true\n"
    root = config_dir(tmp_path, extra=extra, inventory=True)
    config = load_config(root, inventory_path=root / "multinode")
    state = Renderer(config, {}, "control01").render()
    cfg = container(state, "haproxy").files["haproxy.cfg"]
    assert "listen cinder_api" in cfg and "bind 198.51.100.100:8776" in cfg
    step = next(s for s in state.steps_of("cinder") if s.kind == "register")
    assert step.payload["endpoints"][0]["urls"]["internal"] == "http://198.51.100.100:8776/v3/%(project_id)s"


def test_cinder_without_ceph_is_a_configuration_error(tmp_path: Path) -> None:
    from berth.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config(config_dir(tmp_path, extra="enable_cinder: true\n"))
    assert any("cinder requires ceph" in problem for problem in info.value.details)


def test_nova_compute_gives_libvirt_the_cinder_key_as_the_rbd_secret(many: dict[str, DesiredState],
                                                                      many_config: Config) -> None:
    compute = container(many["compute01"], "nova_compute")
    uuid = many_config.passwords["cinder_rbd_secret_uuid"]
    assert json.loads(compute.files["config.json"])["command"] == [
        "/bin/sh", "/etc/nova/berth-libvirt-secrets.sh", "nova-compute", "--config-file", "/etc/nova/nova.conf"]
    assert compute.files["ceph-client-cinder.key"] == many_config.passwords["ceph_client_cinder_key"]
    assert f"<uuid>{uuid}</uuid>" in compute.files["libvirt-secret-cinder.xml"]
    script = compute.files["berth-libvirt-secrets.sh"]
    assert f"secret-set-value --secret {uuid}" in script and script.rstrip().endswith('exec "$@"')
    modes = {dest: (f["mode"], f["owner"]) for dest, f in files_json(compute).items()}
    assert modes["/etc/nova/berth-secrets/cinder.key"] == modes["/etc/nova/berth-secrets/cinder.xml"] == ("0600", "root")
    assert modes["/etc/nova/berth-libvirt-secrets.sh"] == ("0700", "root")
    conf = ini(compute.files["nova.conf"])
    assert (conf["libvirt"]["rbd_user"], conf["libvirt"]["rbd_secret_uuid"]) == ("cinder", uuid)
    assert conf["cinder"]["catalog_info"] == "volumev3:cinderv3:internalURL"
    assert many_config.passwords["ceph_client_cinder_key"] not in compute.files["nova.conf"]


def test_without_cinder_nova_compute_is_as_before(tmp_path: Path) -> None:
    desired = render_desired(load_config(config_dir(tmp_path, extra="enable_ceph: true\n")), {}, pins={})
    compute = container(desired, "nova_compute")
    assert json.loads(compute.files["config.json"])["command"] == [
        "nova-compute", "--config-file", "/etc/nova/nova.conf"]
    assert not {"berth-libvirt-secrets.sh", "libvirt-secret-cinder.xml", "ceph-client-cinder.key"} & set(compute.files)
    conf = ini(compute.files["nova.conf"])
    assert "rbd_user" not in conf["libvirt"] and not conf.has_section("cinder")
