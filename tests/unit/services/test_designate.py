"""Designate renders for the all-in-one and for a lab inventory (two controllers, two network hosts): the five
Designate services on the control hosts, BIND 9 on the network hosts, the pool listing every BIND as nameserver
and target and every mdns as master, BIND authoritative only on its host's address, the rndc key the same secret
on both sides (mode 0600), the catalog's `dns` service, off by default.

Pure: no engine, TEST-NET addresses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.config.loader import Config, load_config
from berth.images.recipes import discover, users_for
from berth.lifecycle.render import Renderer, render_desired
from berth.state.desired import DesiredState
from tests.unit.services import rendering
from tests.unit.services.rendering import container, files_json, ini

LAB = """\
[control]
control01 ansible_host=198.51.100.11
control02 ansible_host=198.51.100.12
[network]
network01 ansible_host=198.51.100.21
network02 ansible_host=198.51.100.22
[compute]
compute01 ansible_host=198.51.100.31
[storage]
[monitoring]
[deployment]
control01
"""
CONTROL = ("control01", "control02")
NETWORK = ("network01", "network02")
ADDRESSES = {"control01": "198.51.100.11", "control02": "198.51.100.12", "network01": "198.51.100.21",
             "network02": "198.51.100.22"}
DESIGNATE = ("designate_api", "designate_central", "designate_producer", "designate_mdns", "designate_worker")
ON = "enable_designate: true\n"


def config_dir(root: Path, extra: str = ON, inventory: bool = False) -> Path:
    return rendering.config_dir(root, extra, LAB if inventory else "")


@pytest.fixture(scope="module")
def aio_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(config_dir(tmp_path_factory.mktemp("designate-aio")))


@pytest.fixture(scope="module")
def aio(aio_config: Config) -> DesiredState:
    return render_desired(aio_config, {}, pins={})


@pytest.fixture(scope="module")
def lab_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    root = config_dir(tmp_path_factory.mktemp("designate-lab"), inventory=True)
    return load_config(root, inventory_path=root / "multinode")


@pytest.fixture(scope="module")
def lab(lab_config: Config) -> dict[str, DesiredState]:
    return {host: render_desired(lab_config, {}, host, pins={}) for host in (*CONTROL, *NETWORK, "compute01")}





def pool(state: DesiredState) -> dict[str, Any]:
    pools = yaml.safe_load(container(state, "designate_worker").files["pools.yaml"])
    assert isinstance(pools, list) and len(pools) == 1
    return dict(pools[0])


def flat(text: str) -> str:
    """named.conf with its whitespace collapsed, comments dropped: statements compare as one line each."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("//")]
    return " ".join(" ".join(lines).split())


def test_off_by_default(tmp_path: Path) -> None:
    desired = render_desired(load_config(config_dir(tmp_path, extra="")), {}, pins={})
    assert not desired.containers_of("designate") and not desired.steps_of("designate")


def test_all_in_one_runs_each_service_in_its_own_container_and_bind(aio: DesiredState) -> None:
    assert [c.key for c in aio.containers_of("designate")] == [*DESIGNATE, "designate_bind9"]
    assert {c.image for c in aio.containers_of("designate")} == {
        "berth/designate-api:epoxy", "berth/designate-central:epoxy", "berth/designate-producer:epoxy",
        "berth/designate-mdns:epoxy", "berth/designate-worker:epoxy", "berth/bind9:epoxy"}
    unit = next(u for u in aio.services if u.name == "designate")
    assert set(unit.depends_on) == {"mariadb", "rabbitmq", "memcached", "keystone"}
    assert [(s.name, s.kind, s.phase) for s in aio.steps_of("designate")] == [
        ("database-designate", "database", "before"), ("db-sync", "oneshot", "before"),
        ("pool-update", "oneshot", "after"), ("keystone-register", "register", "before")]
    for item in aio.containers_of("designate"):
        assert item.spec["network_mode"] == "host" and not item.spec["privileged"] and not item.spec["cap_add"]
        user = "root" if item.key == "designate_bind9" else "designate"  # named drops to `bind` itself (-u bind)
        assert json.loads(item.files["config.json"])["user"] == user
    assert container(aio, "designate_api").health == ("http", "http://127.0.0.1:9001/")
    assert container(aio, "designate_mdns").health == ("tcp", "127.0.0.1", "5354")
    for key in ("designate_central", "designate_producer", "designate_worker"):
        assert container(aio, key).health == ("cmd", "--", "berth-rpc-health", key.replace("_", "-"))
    assert container(aio, "designate_bind9").health == (
        "cmd", "--", "rndc", "-s", "127.0.0.1", "-p", "953", "-k", "/etc/bind/rndc.key", "status")


def test_named_runs_as_bind_with_its_zones_in_a_volume(aio: DesiredState) -> None:
    bind = container(aio, "designate_bind9")
    assert json.loads(bind.files["config.json"])["command"] == [
        "named", "-g", "-4", "-u", "bind", "-c", "/etc/bind/named.conf"]
    assert "unit_designate_bind9:/var/cache/bind" in bind.spec["volumes"]


def test_designate_conf_uses_the_shared_pieces(aio: DesiredState, aio_config: Config) -> None:
    conf = ini(container(aio, "designate_central").files["designate.conf"])
    password = aio_config.passwords["designate_database_password"]
    assert conf["storage:sqlalchemy"]["connection"] == (
        f"mysql+pymysql://designate:{password}@127.0.0.1:3306/designate")
    assert conf["DEFAULT"]["transport_url"].startswith("rabbit://openstack:")
    assert conf["keystone_authtoken"]["username"] == "designate"
    assert conf["keystone_authtoken"]["memcached_servers"] == "127.0.0.1:11211"
    assert conf["coordination"]["backend_url"] == "memcached://127.0.0.1:11211"
    assert conf["service:mdns"]["listen"] == "127.0.0.1:5354"
    producer = ini(container(aio, "designate_producer").files["designate.conf"])
    assert producer["producer_task:increment_serial"]["interval"] == "5"  # Designate's own default
    assert not conf.has_section("producer_task:increment_serial")  # only the producer's changes with the option
    assert conf["oslo_messaging_notifications"]["driver"] == "noop"
    uwsgi = container(aio, "designate_api").files["designate-api-uwsgi.ini"]
    assert "wsgi-file = /usr/bin/designate-api-wsgi" in uwsgi and "http-socket = 127.0.0.1:9001" in uwsgi


def test_bind_is_authoritative_only_on_the_hosts_address(aio: DesiredState) -> None:
    conf = flat(container(aio, "designate_bind9").files["named.conf"])
    for statement in ('include "/etc/bind/rndc.key";', "recursion no;", "allow-recursion { none; };",
                      "notify no;", "allow-transfer { none; };", "allow-new-zones yes;",
                      "listen-on port 53 { 127.0.0.1; };", "listen-on-v6 { none; };",
                      'inet 127.0.0.1 port 953 allow { 127.0.0.1; } keys { "designate-rndc"; };',
                      "allow-notify { 127.0.0.1; };", 'directory "/var/cache/bind";'):
        assert statement in conf, statement
    for never in ("forwarders", "also-notify", "zone "):  # it asks nobody and serves only what designate adds
        assert never not in conf, never


def test_the_rndc_key_is_one_secret_mode_0600_on_both_sides(aio: DesiredState, aio_config: Config) -> None:
    key = aio_config.passwords["designate_rndc_key"]
    worker, bind = container(aio, "designate_worker"), container(aio, "designate_bind9")
    assert worker.files["rndc.key"] == bind.files["rndc.key"]
    assert f'secret "{key}";' in bind.files["rndc.key"] and 'algorithm hmac-sha256;' in bind.files["rndc.key"]
    assert files_json(worker)["/etc/designate/rndc.key"] == {
        "source": "rndc.key", "dest": "/etc/designate/rndc.key", "owner": "designate", "mode": "0600"}
    assert (files_json(bind)["/etc/bind/rndc.key"]["owner"], files_json(bind)["/etc/bind/rndc.key"]["mode"]) == (
        "bind", "0600")
    assert key in aio.secrets
    for item in aio.containers_of("designate"):  # the key is in rndc.key files only
        assert not [name for name, text in item.files.items() if key in text and name != "rndc.key"], item.key
    assert "rndc.key" not in container(aio, "designate_central").files


def test_the_pool_points_at_bind_over_rndc_and_at_mdns(aio: DesiredState) -> None:
    loaded = pool(aio)
    assert loaded["name"] == "default"  # the pool designate's schema made: pool update brings it in line
    assert loaded["ns_records"] == [{"hostname": "ns1.berth.test.", "priority": 1}]
    assert loaded["nameservers"] == [{"host": "127.0.0.1", "port": 53}]
    assert loaded["targets"] == [{
        "type": "bind9", "description": "BIND 9 on localhost", "masters": [{"host": "127.0.0.1", "port": 5354}],
        "options": {"host": "127.0.0.1", "port": 53, "rndc_host": "127.0.0.1", "rndc_port": 953,
                    "rndc_key_file": "/etc/designate/rndc.key", "clean_zonefile": True}}]
    assert loaded["also_notifies"] == []
    step = next(s for s in aio.steps_of("designate") if s.name == "pool-update")
    assert step.container is not None and "pools.yaml" in step.container.files
    assert json.loads(step.container.files["config.json"])["command"] == [
        "designate-manage", "--config-file", "/etc/designate/designate.conf", "pool", "update",
        "--file", "/etc/designate/pools.yaml"]


def test_the_catalog_has_dns_on_port_9001(aio: DesiredState) -> None:
    step = next(s for s in aio.steps_of("designate") if s.kind == "register")
    assert [(s["name"], s["type"]) for s in step.payload["services"]] == [("designate", "dns")]
    assert step.payload["endpoints"][0]["urls"] == {"public": "http://127.0.0.1:9001",
                                                    "internal": "http://127.0.0.1:9001"}
    assert [u["name"] for u in step.payload["users"]] == ["designate"]


def test_lab_control_hosts_run_designate_network_hosts_run_bind(lab: dict[str, DesiredState]) -> None:
    for host in CONTROL:
        assert [c.key for c in lab[host].containers_of("designate")] == list(DESIGNATE)
        conf = ini(container(lab[host], "designate_mdns").files["designate.conf"])
        assert conf["service:mdns"]["listen"] == f"{ADDRESSES[host]}:5354"
        assert conf["storage:sqlalchemy"]["connection"].endswith("@198.51.100.11:3306/designate")
    for host in NETWORK:
        assert [c.key for c in lab[host].containers_of("designate")] == ["designate_bind9"]
        conf = flat(container(lab[host], "designate_bind9").files["named.conf"])
        address = ADDRESSES[host]
        assert f"listen-on port 53 {{ {address}; }};" in conf
        assert f"inet {address} port 953 allow {{ 198.51.100.11; 198.51.100.12; }}" in conf  # the workers
        assert "allow-notify { 198.51.100.11; 198.51.100.12; };" in conf
        assert not lab[host].steps_of("designate")
    assert not lab["compute01"].containers_of("designate")
    # the database, db-sync, registration and the pool once, on the first control host
    assert [s.name for s in lab["control01"].steps_of("designate")] == [
        "database-designate", "db-sync", "pool-update", "keystone-register"]
    assert not lab["control02"].steps_of("designate")


def test_lab_pool_has_every_bind_and_every_mdns(lab: dict[str, DesiredState]) -> None:
    loaded = pool(lab["control01"])
    assert loaded["nameservers"] == [{"host": "198.51.100.21", "port": 53}, {"host": "198.51.100.22", "port": 53}]
    masters = [{"host": "198.51.100.11", "port": 5354}, {"host": "198.51.100.12", "port": 5354}]
    assert [(t["description"], t["masters"], t["options"]["rndc_host"]) for t in loaded["targets"]] == [
        ("BIND 9 on network01", masters, "198.51.100.21"), ("BIND 9 on network02", masters, "198.51.100.22")]
    assert pool(lab["control02"]) == loaded  # the same pool wherever a worker runs


def test_ports_and_ns_name_are_options(tmp_path: Path) -> None:
    extra = ON + ("designate_dns_port: 10053\ndesignate_rndc_port: 10953\ndesignate_ns_hostname: ns.lab.test.\n"
                  "designate_serial_interval: 1\n")
    state = render_desired(load_config(config_dir(tmp_path, extra=extra)), {}, pins={})
    producer = ini(container(state, "designate_producer").files["designate.conf"])
    assert producer["producer_task:increment_serial"]["interval"] == "1"
    conf = flat(container(state, "designate_bind9").files["named.conf"])
    assert "listen-on port 10053 { 127.0.0.1; };" in conf and "inet 127.0.0.1 port 10953 allow" in conf
    loaded = pool(state)
    assert loaded["nameservers"] == [{"host": "127.0.0.1", "port": 10053}]
    assert (loaded["targets"][0]["options"]["port"], loaded["targets"][0]["options"]["rndc_port"]) == (10053, 10953)
    assert loaded["ns_records"][0]["hostname"] == "ns.lab.test."


def test_an_ns_name_without_its_final_dot_is_a_configuration_error(tmp_path: Path) -> None:
    from berth.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config(config_dir(tmp_path, extra=ON + "designate_ns_hostname: ns1.example.org\n"))
    assert any("designate_ns_hostname" in problem for problem in info.value.details)


def test_the_api_is_behind_the_vip_with_haproxy(tmp_path: Path) -> None:
    extra = ON + "internal_vip_address: 198.51.100.100\nenable_haproxy: true\nenable_keepalived: true\n"
    root = config_dir(tmp_path, extra=extra, inventory=True)
    config = load_config(root, inventory_path=root / "multinode")
    state = Renderer(config, {}, "control01").render()
    cfg = container(state, "haproxy").files["haproxy.cfg"]
    assert "listen designate_api" in cfg and "bind 198.51.100.100:9001" in cfg
    step = next(s for s in state.steps_of("designate") if s.kind == "register")
    assert step.payload["endpoints"][0]["urls"]["internal"] == "http://198.51.100.100:9001"


def test_zed_renders_the_same_services(tmp_path: Path) -> None:
    state = render_desired(load_config(config_dir(tmp_path, extra=ON + "openstack_release: zed\n")), {}, pins={})
    assert {c.image for c in state.containers_of("designate")} >= {"berth/designate-api:zed", "berth/bind9:zed"}


def test_bind_gets_its_own_fixed_user_and_designate_base_makes_designates() -> None:
    recipes = discover()
    assert users_for(recipes["bind9"]) == {"bind": 435}
    assert users_for(recipes["designate-base"]) == {"designate": 429}
    assert users_for(recipes["designate-worker"]) == {}
    assert "designate" not in users_for(recipes["openstack-base"])
