"""Ceph renders for the all-in-one (one storage host: size 1, said plainly) and for three storage hosts (size 3, one
monitor founding the cluster, the others joining); destroy keeps its data unless asked; status shows its health.

Pure: no engine (an in-memory one for the status probe), TEST-NET addresses.
"""

from __future__ import annotations

import base64
import configparser
import json
from pathlib import Path

import pytest
import yaml

from berth.config.loader import Config, load_config
from berth.engine.base import ExecResult
from berth.engine.memory import MemoryEngine
from berth.lifecycle import maintenance
from berth.lifecycle.render import render_desired
from berth.lifecycle.status import Row, status_notes
from berth.state.actual import ActualContainer, ActualState
from berth.state.desired import DesiredContainer, DesiredState
from berth.state.facts import HostFacts
from tests.unit.services import rendering

GIB = 1024 ** 3
STORAGE = {"storage01": "198.51.100.31", "storage02": "198.51.100.32", "storage03": "198.51.100.33"}
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


def config_dir(root: Path, extra: str = "enable_ceph: true\n", inventory: bool = False) -> Path:
    return rendering.config_dir(root, extra, INVENTORY if inventory else "")


@pytest.fixture(scope="module")
def aio_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(config_dir(tmp_path_factory.mktemp("ceph-aio")))


@pytest.fixture(scope="module")
def aio(aio_config: Config) -> DesiredState:
    return render_desired(aio_config, {}, pins={})


@pytest.fixture(scope="module")
def many_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    root = config_dir(tmp_path_factory.mktemp("ceph-three"), inventory=True)
    return load_config(root, inventory_path=root / "multinode")


@pytest.fixture(scope="module")
def many(many_config: Config) -> dict[str, DesiredState]:
    return {host: render_desired(many_config, {}, host, pins={}) for host in (*STORAGE, "control01")}


def conf(container: DesiredContainer) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(container.files["ceph.conf"])
    return parser


def container(state: DesiredState, key: str) -> DesiredContainer:
    found = state.container(key)
    assert found is not None, f"{key} is not rendered on this host"
    return found


def test_off_by_default_the_all_in_one_is_unchanged(tmp_path: Path) -> None:
    desired = render_desired(load_config(config_dir(tmp_path, extra="")), {}, pins={})
    assert not desired.containers_of("ceph") and not desired.steps_of("ceph")


def test_all_in_one_runs_a_monitor_a_manager_and_one_osd_on_its_host(aio: DesiredState) -> None:
    assert [c.key for c in aio.containers_of("ceph")] == ["ceph_mon", "ceph_mgr", "ceph_osd"]
    assert {c.image for c in aio.containers_of("ceph")} == {"berth/ceph:epoxy"}
    assert [(s.name, s.phase) for s in aio.steps_of("ceph")] == [("pools-and-keys", "after")]
    for key in ("ceph_mon", "ceph_mgr", "ceph_osd"):
        spec = container(aio, key).spec
        assert spec["network_mode"] == "host" and not spec["privileged"] and not spec["devices"]
        assert spec["healthcheck"]["test"][:4] == ["CMD", "berth-health", "cmd", "--"]


def test_single_host_keeps_one_copy_and_says_so(aio: DesiredState, aio_config: Config) -> None:
    mon = container(aio, "ceph_mon")
    cfg = conf(mon)
    assert cfg["global"]["fsid"] == aio_config.passwords["ceph_fsid"]
    assert cfg["global"]["mon_host"] == "[v2:127.0.0.1:3300,v1:127.0.0.1:6789]"
    assert cfg["global"]["public_addr"] == "127.0.0.1"
    assert (cfg["global"]["osd_pool_default_size"], cfg["global"]["osd_pool_default_min_size"]) == ("1", "1")
    assert cfg["global"]["mon_allow_pool_size_one"] == "true"
    pools = next(s for s in aio.steps_of("ceph")).container
    assert pools is not None
    script = pools.files["berth-ceph-pools.py"]
    assert "SIZE, MIN_SIZE, PG_NUM = 1, 1, 16" in script and "yes_i_really_mean_it=True" in script
    assert 'POOLS = ["images", "volumes", "backups", "vms"]' in script
    assert "NO redundancy" in mon.files["berth-ceph-status.sh"]


def test_osd_is_bluestore_on_a_file_of_the_configured_size(aio: DesiredState, aio_config: Config) -> None:
    osd = container(aio, "ceph_osd")
    section = conf(osd)["osd"]
    assert section["osd_objectstore"] == "bluestore" and section["bluestore_block_create"] == "true"
    assert int(section["bluestore_block_size"]) == 5 * GIB
    script = osd.files["berth-ceph-osd.sh"]
    assert "ceph-osd --mkfs" in script and "ceph-volume" not in script
    data = Path(aio_config.config_dir) / "data" / "unit"
    assert f"{data}/ceph-osd:/var/lib/ceph/osd" in osd.spec["volumes"]
    assert f"{data}/ceph-mon:/var/lib/ceph/mon" in container(aio, "ceph_mon").spec["volumes"]
    # data is in host directories, not in volumes a destroy removes
    assert not next(u.volumes for u in aio.services if u.name == "ceph")


def test_osd_size_is_an_option(tmp_path: Path) -> None:
    desired = render_desired(load_config(config_dir(tmp_path, "enable_ceph: true\nceph_osd_size_gb: 2\n")), {},
                             pins={})
    assert int(conf(container(desired, "ceph_osd"))["osd"]["bluestore_block_size"]) == 2 * GIB


def test_keys_are_cephx_secrets_in_files_only_their_owner_reads(aio: DesiredState, aio_config: Config) -> None:
    names = ["ceph_mon_key", "ceph_admin_key", "ceph_bootstrap_osd_key", "ceph_client_glance_key",
             "ceph_client_cinder_key", "ceph_client_cinder_backup_key", "ceph_client_nova_key"]
    for name in names:
        raw = base64.b64decode(aio_config.passwords[name])
        assert len(raw) == 28 and raw[:2] == b"\x01\x00", name
        assert aio_config.passwords[name] in aio.secrets  # masked in every output
    mon = container(aio, "ceph_mon")
    files = {f["source"]: f for f in json.loads(mon.files["config.json"])["files"]}
    for keyring in ("ceph.client.admin.keyring", "ceph.mon.keyring"):
        assert files[keyring]["mode"] == "0600" and files[keyring]["owner"] == "ceph"
    assert aio_config.passwords["ceph_mon_key"] in mon.files["ceph.mon.keyring"]
    osd = container(aio, "ceph_osd")
    assert "ceph.client.admin.keyring" not in osd.files  # the OSD registers itself with the bootstrap-osd key
    assert aio_config.passwords["ceph_bootstrap_osd_key"] in osd.files["ceph.client.bootstrap-osd.keyring"]
    assert aio_config.passwords["ceph_admin_key"] not in osd.files["ceph.client.bootstrap-osd.keyring"]


def test_clients_get_rbd_profiles_on_their_pools(aio: DesiredState) -> None:
    step = next(s for s in aio.steps_of("ceph")).container
    assert step is not None
    keyring = configparser.ConfigParser(strict=False, interpolation=None)
    keyring.read_string(step.files["ceph.clients.keyring"])
    assert sorted(keyring.sections()) == ["client.cinder", "client.cinder-backup", "client.glance", "client.nova"]
    assert keyring["client.glance"]["caps osd"] == '"profile rbd pool=images"'
    assert keyring["client.cinder"]["caps osd"] == \
        '"profile rbd pool=volumes, profile rbd pool=vms, profile rbd-read-only pool=images"'
    assert keyring["client.cinder-backup"]["caps osd"] == '"profile rbd pool=backups"'
    assert keyring["client.nova"]["caps osd"] == '"profile rbd pool=vms, profile rbd-read-only pool=images"'
    files = {f["source"]: f["mode"] for f in json.loads(step.files["config.json"])["files"]}
    assert files["ceph.clients.keyring"] == "0600"


def test_exports_give_clients_what_they_need(aio_config: Config) -> None:
    from berth.lifecycle.wiring import exports

    values = exports(aio_config)
    assert values["ceph_replicas"] == 1 and values["ceph_mon_addresses"] == ["127.0.0.1"]
    assert values["ceph_client_keyring"]("cinder-backup") == (
        f"[client.cinder-backup]\n    key = {aio_config.passwords['ceph_client_cinder_backup_key']}\n")


def test_three_storage_hosts_run_one_of_each_and_keep_three_copies(many: dict[str, DesiredState]) -> None:
    assert not many["control01"].containers_of("ceph")
    for host, address in STORAGE.items():
        state = many[host]
        assert [c.key for c in state.containers_of("ceph")] == ["ceph_mon", "ceph_mgr", "ceph_osd"]
        cfg = conf(container(state, "ceph_osd"))
        assert cfg["global"]["public_addr"] == address and cfg["global"]["cluster_addr"] == address
        assert cfg["global"]["mon_host"] == ",".join(f"[v2:{a}:3300,v1:{a}:6789]" for a in STORAGE.values())
        assert (cfg["global"]["osd_pool_default_size"], cfg["global"]["osd_pool_default_min_size"]) == ("3", "2")
        assert cfg["global"]["mon_allow_pool_size_one"] == "false"
        assert cfg["osd"]["crush_location"] == f"root=default host={host}"
    # pools and keys once, on the first storage host
    assert [h for h in STORAGE if many[h].steps_of("ceph")] == ["storage01"]
    step = many["storage01"].steps_of("ceph")[0].container
    assert step is not None and "SIZE, MIN_SIZE, PG_NUM = 3, 2, 16" in step.files["berth-ceph-pools.py"]


def test_the_first_monitor_founds_the_cluster_and_the_others_join(many: dict[str, DesiredState]) -> None:
    first = container(many["storage01"], "ceph_mon").files["berth-ceph-mon.sh"]
    assert "monmaptool --create" in first and "mon getmap" not in first
    assert "--addv storage01 \"[v2:198.51.100.31:3300,v1:198.51.100.31:6789]\"" in first
    for host in ("storage02", "storage03"):
        script = container(many[host], "ceph_mon").files["berth-ceph-mon.sh"]
        assert "mon getmap" in script and "monmaptool" not in script
        assert f"ceph-mon -f -i {host}" in script and f"--public-addr {STORAGE[host]}" in script


def test_a_storage_host_waits_for_the_first_one(many_config: Config) -> None:
    from berth.remote.targets import services_by_host, waits_for, waves

    running = services_by_host(many_config)
    order = waves(list(running), waits_for(many_config, running))
    first = next(n for n, wave in enumerate(order) if "storage01" in wave)
    assert all(n > first for n, wave in enumerate(order) for h in wave if h in ("storage02", "storage03"))


def _facts(*keys: str) -> HostFacts:
    actual = ActualState("unit", tuple(ActualContainer(f"id-{k}", f"unit-{k}", k, "ceph") for k in keys))
    return HostFacts(actual, state_dir=True)


def test_destroy_keeps_the_data_unless_asked(aio_config: Config) -> None:
    data = Path(aio_config.config_dir) / "data" / "unit"
    dirs = {str(data / "ceph-mon"), str(data / "ceph-osd")}
    kept = maintenance.destroy_plan(aio_config, _facts("ceph_mon", "ceph_osd"), False)
    assert {(o.name, o.action) for o in kept.objects if o.kind == "data"} == {(d, "keep") for d in dirs}
    gone = maintenance.destroy_plan(aio_config, _facts("ceph_mon", "ceph_osd"), False, include_data=True)
    assert {(o.name, o.action) for o in gone.objects if o.kind == "data"} == {(d, "remove") for d in dirs}


def test_destroy_lists_data_only_on_hosts_that_run_the_service(many_config: Config) -> None:
    from berth.lifecycle import hostops

    plan = hostops.destroy(many_config, "compute01", HostFacts(ActualState("unit")), include_data=True).plan
    assert not [o for o in plan.objects if o.kind == "data"]
    plan = hostops.destroy(many_config, "storage02", _facts("ceph_osd"), include_data=True).plan
    assert len([o for o in plan.objects if o.kind == "data" and o.action == "remove"]) == 2


def test_include_data_removes_the_directories(tmp_path: Path) -> None:
    from berth.lifecycle.teardown import remove_data_dir

    target = tmp_path / "data" / "unit" / "ceph-osd"
    (target / "ceph-0").mkdir(parents=True)
    (target / "ceph-0" / "block").write_bytes(b"x")
    assert remove_data_dir(str(target)).endswith("removed") and not target.exists()
    assert remove_data_dir(str(target)).endswith("already gone")
    assert "kept" in remove_data_dir("/srv")  # too shallow to be one service's data


def test_status_shows_the_cluster_health_masked(aio_config: Config) -> None:
    engine = MemoryEngine()
    engine.add_container("unit-ceph_mon", "berth/ceph:epoxy")
    secret = str(aio_config.passwords["ceph_admin_key"])
    asked: list[list[str]] = []

    def answer(_box: object, argv: list[str]) -> ExecResult:
        asked.append(argv)
        return ExecResult(0, f"HEALTH_WARN 5 pool(s) have no replicas configured\nkey {secret}\n")

    engine.on_exec = answer
    rows = [Row("ceph", "ceph_mon", "unit-ceph_mon", "running", "healthy", "", "", "", ""),
            Row("ceph", "ceph_osd", "unit-ceph_osd", "running", "healthy", "", "", "", "")]
    notes = status_notes(aio_config, engine, rows)
    assert [(n.service, n.container, n.ok) for n in notes] == [("ceph", "ceph_mon", True)]
    assert notes[0].lines == ("HEALTH_WARN 5 pool(s) have no replicas configured", "key ********")
    assert asked == [["timeout", "15", "/bin/sh", "/etc/ceph/berth-ceph-status.sh"]]
    assert status_notes(aio_config, engine, [r for r in rows if r.container != "ceph_mon"]) == []


def test_service_definition_rejects_a_probe_of_an_unknown_container(tmp_path: Path) -> None:
    from berth.errors import ConfigError
    from berth.state.model import parse_service

    folder = tmp_path / "thing"
    folder.mkdir()
    (folder / "service.yml").write_text(yaml.safe_dump({
        "containers": {"a": {"image": "x"}}, "status": [{"container": "b", "command": ["true"]}]}))
    with pytest.raises(ConfigError) as err:
        parse_service(folder / "service.yml")
    assert "status probe names unknown container `b`" in str(err.value.details)
