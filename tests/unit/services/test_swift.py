"""Swift rendered for the all-in-one and for a controller with three storage hosts (no engine): the ring tables
berth computes, the configuration files the daemons read, the Keystone registration, and the switch."""

from __future__ import annotations

import configparser
import json
import tempfile
from collections import Counter
from collections.abc import Callable
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from typing import Any, cast

import pytest

from berth.cli.main import main
from berth.config.loader import load_config
from berth.lifecycle.render import render_desired
from berth.services.registry import enable_key, service_dirs, service_names
from berth.state.desired import DesiredState, DesiredStep
from berth.state.model import parse_service

NEEDED = ("mariadb", "memcached", "keystone", "swift")
ADDRESS = "127.0.0.62"
STORAGE = {"storage01": "198.51.100.31", "storage02": "198.51.100.32", "storage03": "198.51.100.33"}
INVENTORY = """\
[control]
control01 ansible_host=198.51.100.11
[network]
[compute]
[storage]
storage01 ansible_host=198.51.100.31
storage02 ansible_host=198.51.100.32
storage03 api_address=198.51.100.33 ansible_host=storage03.example
[monitoring]
[deployment]
control01
"""
DAEMONS = {"account": ("server", "auditor", "replicator", "reaper"),
           "container": ("server", "auditor", "replicator", "updater"),
           "object": ("server", "auditor", "replicator", "updater")}


def _config_dir(root: Path, extra: str = "") -> Path:
    given = {line.split(":")[0] for line in extra.splitlines()}  # a key given twice is an error: extra wins
    switches = "".join(f"{enable_key(n)}: {'true' if n in NEEDED else 'false'}\n" for n in service_names()
                       if enable_key(n) not in given)
    (root / "globals.yml").write_text(f"deployment_name: bswift\napi_address: {ADDRESS}\nstate_dir: {root / 'state'}\n"
                                      f"log_dir: {root / 'log'}\n{switches}{extra}")
    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    return root


@pytest.fixture(scope="module")
def aio(tmp_path_factory: pytest.TempPathFactory) -> DesiredState:
    return render_desired(load_config(_config_dir(tmp_path_factory.mktemp("aio"))), {})


@pytest.fixture(scope="module")
def multi_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _config_dir(tmp_path_factory.mktemp("multi"), "swift_devices: 2\nswift_part_power: 8\n")
    (root / "multinode").write_text(INVENTORY)
    return root


def render_host(root: Path, host: str) -> DesiredState:
    return render_desired(load_config(root, inventory_path=root / "multinode"), {}, host)


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string(text)
    return parser


def step(desired: DesiredState, name: str) -> DesiredStep:
    return next(s for s in desired.steps if s.service == "swift" and s.name == name)


def rings_of(desired: DesiredState, name: str = "rings") -> dict[str, Any]:
    files = step(desired, name).container
    assert files is not None
    return dict(json.loads(files.files["berth-swift-rings.json"]))


def assign_of(desired: DesiredState) -> Callable[..., list[Any]]:
    """The placement function of the rendered one-shot script, loaded as a module (main() does not run, and Swift
    is imported only there)."""
    script = step(desired, "rings").container.files["berth-swift-rings.py"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "berth_swift_rings.py"
        path.write_text(script)
        loader = SourceFileLoader("berth_swift_rings", str(path))
        spec = spec_from_loader("berth_swift_rings", loader)
        assert spec is not None
        module = module_from_spec(spec)
        loader.exec_module(module)
    return cast(Callable[..., list[Any]], module.assign)


def test_definition_parses_and_is_off_by_default() -> None:
    definition = parse_service(service_dirs()["swift"] / "service.yml")
    assert not definition.enabled_by_default
    assert {"keystone", "memcached"} <= set(definition.depends_on)
    assert definition.containers["swift_proxy_server"].group == "control"
    others = {k: c.group for k, c in definition.containers.items() if k != "swift_proxy_server"}
    assert set(others.values()) == {"storage"}
    expected = {f"swift_{kind}_{d}" for kind, daemons in DAEMONS.items() for d in daemons} | {"swift_rsyncd"}
    assert set(others) == expected
    assert all(c.healthcheck is not None for c in definition.containers.values())
    assert [f.port for f in definition.loadbalancer] == ["proxy"]


def test_the_default_all_in_one_has_no_swift(tmp_path: Path) -> None:
    (tmp_path / "globals.yml").write_text(f"state_dir: {tmp_path / 'state'}\nlog_dir: {tmp_path / 'log'}\n")
    assert main(["--quiet", "--config-dir", str(tmp_path), "genpwd"]) == 0
    config = load_config(tmp_path)
    assert config.passwords.get("swift_hash_path_suffix")  # genpwd makes the secrets anyway
    desired = render_desired(config, {})
    assert not [c for c in desired.containers if c.service == "swift"]


def test_all_in_one_runs_every_daemon_on_the_one_host(aio: DesiredState) -> None:
    keys = {c.key for c in aio.containers if c.service == "swift"}
    assert len(keys) == 14 and "swift_proxy_server" in keys and "swift_object_replicator" in keys
    replicator = next(c for c in aio.containers if c.key == "swift_object_replicator")
    command = json.loads(replicator.files["config.json"])["command"]
    assert command == ["swift-object-replicator", "/etc/swift/object-server.conf", "--verbose"]
    assert ("cmd", "--", "pgrep", "-f", "bin/swift-object-replicator ") == replicator.health


def test_all_in_one_ring_has_one_device_and_one_replica(aio: DesiredState) -> None:
    spec = rings_of(aio)
    assert spec["devices"] == ["d0"] and spec["replicas"] == 1 and spec["part_power"] == 10
    for name, port in (("account", 6202), ("container", 6201), ("object", 6200)):
        devs = spec["rings"][name]
        assert devs == [{"id": 0, "region": 1, "zone": 1, "ip": ADDRESS, "port": port, "replication_ip": ADDRESS,
                         "replication_port": port, "device": "d0", "weight": 100.0, "meta": "localhost"}]
        assert [list(row) for row in assign_of(aio)(devs, 10, 1)] == [[0] * 1024]


def test_devices_are_host_directories_under_data(aio: DesiredState, tmp_path_factory: pytest.TempPathFactory) -> None:
    server = next(c for c in aio.containers if c.key == "swift_object_server")
    mounts = [v for v in server.spec["volumes"] if v.endswith(":/srv/node")]
    assert len(mounts) == 1 and mounts[0].endswith("/state/bswift/data/swift:/srv/node")
    assert "bswift_swift_rings:/etc/swift/rings" in server.spec["volumes"]


def test_storage_configs_read_directories_and_rings(aio: DesiredState) -> None:
    for kind, daemons in DAEMONS.items():
        files = next(c.files for c in aio.containers if c.key == f"swift_{kind}_server")
        conf = ini(files[f"{kind}-server.conf"])
        assert conf["DEFAULT"]["mount_check"] == "false" and conf["DEFAULT"]["devices"] == "/srv/node"
        assert conf["DEFAULT"]["swift_dir"] == "/etc/swift/rings"
        assert conf["DEFAULT"]["bind_ip"] == ADDRESS
        assert conf["pipeline:main"]["pipeline"] == f"healthcheck recon {kind}-server"
        for daemon in daemons[1:]:  # each daemon finds its own section
            assert conf.has_section(f"{kind}-{daemon}")
        swift = ini(files["swift.conf"])
        assert len(swift["swift-hash"]["swift_hash_path_suffix"]) == 64


def test_proxy_authenticates_with_keystone_and_caches_in_memcached(aio: DesiredState) -> None:
    files = next(c.files for c in aio.containers if c.key == "swift_proxy_server")
    conf = ini(files["proxy-server.conf"])
    pipeline = conf["pipeline:main"]["pipeline"].split()
    assert pipeline.index("cache") < pipeline.index("authtoken") < pipeline.index("keystoneauth")
    assert pipeline[-1] == "proxy-server"
    assert conf["filter:authtoken"]["paste.filter_factory"] == "keystonemiddleware.auth_token:filter_factory"
    assert conf["filter:authtoken"]["username"] == "swift"
    assert conf["filter:authtoken"]["auth_url"] == f"http://{ADDRESS}:5000"
    assert conf["filter:cache"]["memcache_servers"] == f"{ADDRESS}:11211"
    assert conf["filter:keystoneauth"]["reseller_admin_role"] == "ResellerAdmin"
    assert "swiftoperator" in conf["filter:keystoneauth"]["operator_roles"]
    assert conf["app:proxy-server"]["account_autocreate"] == "true"


def test_keystone_registration_payload(aio: DesiredState) -> None:
    payload = step(aio, "keystone-register").payload
    assert payload["services"] == [{"name": "swift", "type": "object-store", "description": "OpenStack Object Storage"}]
    url = f"http://{ADDRESS}:8080/v1/AUTH_%(project_id)s"
    assert payload["endpoints"] == [{"service": "swift", "interfaces": ["public", "internal"],
                                     "urls": {"public": url, "internal": url}}]
    assert payload["users"] == [{"name": "swift", "password": "swift_keystone_password", "project": "service",
                                 "roles": ["admin", "service"]}]
    assert {"swiftoperator", "ResellerAdmin"} <= set(payload["roles"])


def test_secrets_are_masked(aio: DesiredState, tmp_path_factory: pytest.TempPathFactory) -> None:
    files = next(c.files for c in aio.containers if c.key == "swift_object_server")
    suffix = ini(files["swift.conf"])["swift-hash"]["swift_hash_path_suffix"]
    assert suffix in aio.secrets


# --- three storage hosts --------------------------------------------------------------------------------------


def test_three_hosts_place_the_proxy_on_control_and_servers_on_storage(multi_dir: Path) -> None:
    control = render_host(multi_dir, "control01")
    assert {c.key for c in control.containers if c.service == "swift"} == {"swift_proxy_server"}
    storage = render_host(multi_dir, "storage02")
    keys = {c.key for c in storage.containers if c.service == "swift"}
    assert "swift_proxy_server" not in keys and len(keys) == 13
    conf = ini(next(c.files for c in storage.containers if c.key == "swift_object_server")["object-server.conf"])
    assert conf["DEFAULT"]["bind_ip"] == STORAGE["storage02"]
    rsyncd = next(c.files for c in storage.containers if c.key == "swift_rsyncd")["rsyncd.conf"]
    assert f"hosts allow = {' '.join(STORAGE.values())}" in rsyncd
    # registration and proxy reach the control host
    register = step(control, "keystone-register").payload
    assert register["endpoints"][0]["urls"]["internal"] == "http://198.51.100.11:8080/v1/AUTH_%(project_id)s"


def test_rings_are_the_same_text_on_every_host(multi_dir: Path) -> None:
    texts = {step(render_host(multi_dir, "control01"), "rings").container.files["berth-swift-rings.json"]}
    for host in STORAGE:
        desired = render_host(multi_dir, host)
        texts.add(step(desired, "rings-storage").container.files["berth-swift-rings.json"])
        assert not [s for s in desired.steps if s.name == "rings"]  # no proxy there
    assert len(texts) == 1


def placement(desired: DesiredState, ring: str = "object") -> list[list[tuple[str, str]]]:
    """partition -> the (host, device) of each replica, from the script's own function."""
    spec = rings_of(desired)
    devs = spec["rings"][ring]
    table = assign_of(desired)(devs, spec["part_power"], spec["replicas"])
    assert table == assign_of(desired)(devs, spec["part_power"], spec["replicas"])  # pure: the same every time
    return [[(devs[row[p]]["meta"], devs[row[p]]["device"]) for row in table] for p in range(1 << spec["part_power"])]


def test_three_hosts_rings_balance_three_replicas_over_hosts(multi_dir: Path) -> None:
    desired = render_host(multi_dir, "control01")
    spec = rings_of(desired)
    assert spec["devices"] == ["d0", "d1"] and spec["replicas"] == 3 and spec["part_power"] == 8
    devs = spec["rings"]["object"]
    assert [d["id"] for d in devs] == list(range(6))
    assert [(d["meta"], d["device"], d["zone"]) for d in devs[:3]] == [
        ("storage01", "d0", 1), ("storage01", "d1", 1), ("storage02", "d0", 2)]
    assert {d["ip"] for d in devs} == set(STORAGE.values()) and {d["port"] for d in devs} == {6200}
    parts = placement(desired)
    assert len(parts) == 256
    assert all(len({host for host, _ in replicas}) == 3 for replicas in parts)  # three hosts each
    share = Counter(dev for replicas in parts for dev in replicas)
    assert len(share) == 6 and all(abs(n - 128) <= 128 * 0.2 for n in share.values()), share  # 3 * 256 / 6


def test_a_new_storage_host_moves_at_most_one_replica_of_a_partition(multi_dir: Path, tmp_path: Path) -> None:
    before = placement(render_host(multi_dir, "control01"))
    root = _config_dir(tmp_path, "swift_devices: 2\nswift_part_power: 8\n")
    (root / "multinode").write_text(INVENTORY.replace("[monitoring]", "storage00 ansible_host=198.51.100.30\n"
                                                                       "[monitoring]"))
    after = placement(render_host(root, "control01"))
    moved = [len(set(a) - set(b)) for a, b in zip(after, before, strict=True)]
    assert max(moved) == 1  # the other replicas stay readable while the replicators move one
    assert 0.15 < sum(moved) / (3 * 256) < 0.35  # about a quarter of the replicas go to the new host
    assert all(("storage00" in {h for h, _ in a}) == bool(m) for a, m in zip(after, moved, strict=True))


def test_replicas_follow_the_number_of_devices(tmp_path: Path) -> None:
    root = _config_dir(tmp_path, "swift_devices: 2\n")
    desired = render_desired(load_config(root), {})
    assert rings_of(desired)["replicas"] == 2
    assert all(a != b for a, b in placement(desired, "container"))  # both devices of the one host


def test_with_haproxy_the_proxy_is_served_on_the_vip(tmp_path: Path) -> None:
    from berth.lifecycle import wiring

    vip = "198.51.100.100"
    root = _config_dir(tmp_path, f"internal_vip_address: {vip}\nenable_haproxy: true\nenable_keepalived: true\n")
    (root / "multinode").write_text(INVENTORY)
    config = load_config(root, inventory_path=root / "multinode")
    frontend = next(f for f in wiring.loadbalancer(config) if f["service"] == "swift")
    assert (frontend["name"], frontend["port"], frontend["check"]) == ("swift_proxy", 8080, "GET /healthcheck")
    assert [b["address"] for b in frontend["backends"]] == ["198.51.100.11"]  # the control host only
    register = step(render_host(root, "control01"), "keystone-register").payload
    assert register["endpoints"][0]["urls"]["internal"] == f"http://{vip}:8080/v1/AUTH_%(project_id)s"
    storage = render_host(root, "storage01")  # storage servers keep their own addresses (no VIP between them)
    conf = ini(next(c.files for c in storage.containers if c.key == "swift_object_server")["object-server.conf"])
    assert conf["DEFAULT"]["bind_ip"] == STORAGE["storage01"]
    assert {d["ip"] for d in rings_of(storage, "rings-storage")["rings"]["object"]} == set(STORAGE.values())
