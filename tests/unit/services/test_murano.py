"""Murano renders for the all-in-one and for a lab inventory (two controllers): murano-api and murano-engine on
the control hosts, its database, db-sync and the core library imported once, the catalog's `application-catalog`
service, notifications on (the applications' reports travel as notifications), the guest agent off, off by
default; Zed only: enabling it on Epoxy is refused at its switch, naming both fixes; its images exist for Zed only.

Pure: no engine, TEST-NET addresses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.config.loader import Config, load_config
from berth.errors import ConfigError
from berth.images.recipes import discover, users_for
from berth.lifecycle.render import Renderer, render_desired
from berth.state.desired import DesiredState
from tests.unit.services import rendering
from tests.unit.services.rendering import container, ini

LAB = """\
[control]
control01 ansible_host=198.51.100.11
control02 ansible_host=198.51.100.12
[network]
network01 ansible_host=198.51.100.21
[compute]
compute01 ansible_host=198.51.100.31
[storage]
[monitoring]
[deployment]
control01
"""
CONTROL = {"control01": "198.51.100.11", "control02": "198.51.100.12"}
MURANO = ("murano_api", "murano_engine")
ON = "openstack_release: zed\nenable_murano: true\n"


def config_dir(root: Path, extra: str = ON, inventory: bool = False) -> Path:
    return rendering.config_dir(root, extra, LAB if inventory else "")


@pytest.fixture(scope="module")
def aio_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(config_dir(tmp_path_factory.mktemp("murano-aio")))


@pytest.fixture(scope="module")
def aio(aio_config: Config) -> DesiredState:
    return render_desired(aio_config, {}, pins={})


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DesiredState]:
    root = config_dir(tmp_path_factory.mktemp("murano-lab"), inventory=True)
    config = load_config(root, inventory_path=root / "multinode")
    return {host: render_desired(config, {}, host, pins={}) for host in (*CONTROL, "network01", "compute01")}




def test_off_by_default(tmp_path: Path) -> None:
    desired = render_desired(load_config(config_dir(tmp_path, extra="openstack_release: zed\n")), {}, pins={})
    assert not desired.containers_of("murano") and not desired.steps_of("murano")


def test_enabled_on_epoxy_is_refused_at_its_switch_naming_both_fixes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir(tmp_path, extra="enable_murano: true\n"))
    [problem] = [p for p in info.value.details if "enable_murano" in p]
    # line 5: the switch, after the four lines rendering.config_dir writes first
    assert problem.startswith(f"{tmp_path}/globals.yml:5: enable_murano: murano is not available for OpenStack "
                              "epoxy (the default release): its folder deploys zed only")
    assert "set `enable_murano: false`, or set `openstack_release: zed` for a new deployment" in problem


def test_an_explicit_epoxy_is_located_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir(tmp_path, extra="enable_murano: true\nopenstack_release: epoxy\n"))
    [problem] = [p for p in info.value.details if "enable_murano" in p]
    assert f"OpenStack epoxy (openstack_release at {tmp_path}/globals.yml:6)" in problem


def test_heat_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir(tmp_path, extra=ON + "enable_heat: false\n"))
    assert any("murano requires heat" in p and "enable_heat: true" in p for p in info.value.details)


def test_all_in_one_runs_api_and_engine_after_heat(aio: DesiredState) -> None:
    assert [c.key for c in aio.containers_of("murano")] == list(MURANO)
    assert {c.image for c in aio.containers_of("murano")} == {"berth/murano-api:zed", "berth/murano-engine:zed"}
    unit = next(u for u in aio.services if u.name == "murano")
    assert set(unit.depends_on) == {"mariadb", "rabbitmq", "memcached", "keystone", "heat"}
    for item in aio.containers_of("murano"):
        assert item.spec["network_mode"] == "host" and not item.spec["privileged"] and not item.spec["cap_add"]
        assert json.loads(item.files["config.json"])["user"] == "murano"
    # murano-api is its own eventlet server: it also runs the RPC server that takes the engine's results
    assert json.loads(container(aio, "murano_api").files["config.json"])["command"] == [
        "murano-api", "--config-file", "/etc/murano/murano.conf"]
    assert container(aio, "murano_api").health == ("http", "http://127.0.0.1:8082/")
    assert container(aio, "murano_engine").health == ("cmd", "--", "berth-rpc-health", "murano-engine")


def test_db_sync_then_the_core_library_then_registration(aio: DesiredState) -> None:
    steps = aio.steps_of("murano")
    assert [(s.name, s.kind, s.phase) for s in steps] == [
        ("database-murano", "database", "before"), ("db-sync", "oneshot", "before"),
        ("core-library", "oneshot", "before"), ("keystone-register", "register", "before")]
    commands = {s.name: json.loads(s.container.files["config.json"])["command"]
                for s in steps if s.container is not None}
    assert commands["db-sync"] == ["murano-db-manage", "--config-file", "/etc/murano/murano.conf", "upgrade"]
    assert commands["core-library"] == ["murano-manage", "--config-file", "/etc/murano/murano.conf",
                                        "import-package", "/usr/share/murano-common/io.murano"]


def test_the_catalog_has_application_catalog_on_port_8082(aio: DesiredState) -> None:
    step = next(s for s in aio.steps_of("murano") if s.kind == "register")
    assert [(s["name"], s["type"]) for s in step.payload["services"]] == [("murano", "application-catalog")]
    assert step.payload["endpoints"][0]["urls"] == {"public": "http://127.0.0.1:8082",
                                                    "internal": "http://127.0.0.1:8082"}
    assert [u["name"] for u in step.payload["users"]] == ["murano"]


def test_murano_conf(aio: DesiredState, aio_config: Config) -> None:
    conf = ini(container(aio, "murano_engine").files["murano.conf"])
    assert container(aio, "murano_engine").files["murano.conf"] == container(aio, "murano_api").files["murano.conf"]
    password = aio_config.passwords["murano_database_password"]
    assert conf["database"]["connection"] == f"mysql+pymysql://murano:{password}@127.0.0.1:3306/murano"
    assert conf["DEFAULT"]["transport_url"].startswith("rabbit://openstack:")
    assert (conf["DEFAULT"]["bind_host"], conf["DEFAULT"]["bind_port"]) == ("127.0.0.1", "8082")
    assert conf["murano"]["url"] == "http://127.0.0.1:8082"  # where the engine fetches packages
    assert conf["paste_deploy"]["config_file"] == "/etc/murano/murano-paste.ini"
    assert conf["keystone_authtoken"]["username"] == conf["murano_auth"]["username"] == "murano"
    assert conf["murano_auth"]["auth_url"] == "http://127.0.0.1:5000/v3"
    assert conf["murano_auth"]["www_authenticate_uri"] == "http://127.0.0.1:5000"
    # reports reach the API as notifications; the audit notifications nobody reads are not sent
    assert conf["oslo_messaging_notifications"]["driver"] == "messagingv2"
    assert conf["stats"]["env_audit_enabled"] == "false"
    assert conf["engine"]["disable_murano_agent"] == "true" and conf["engine"]["use_trusts"] == "true"
    assert (conf["networking"]["driver"], conf["heat"]["endpoint_type"]) == ("neutron", "internal")
    assert conf["networking"]["external_network"] == "public1"  # init-runonce's external network
    assert not conf.has_section("oslo_messaging_rabbit")  # one RabbitMQ: nothing to add


def test_secrets_are_in_murano_conf_only(aio: DesiredState, aio_config: Config) -> None:
    for key in ("murano_database_password", "murano_keystone_password"):
        assert aio_config.passwords[key] in aio.secrets
    files = json.loads(container(aio, "murano_api").files["config.json"])["files"]
    assert [(f["dest"], f["owner"], f["mode"]) for f in files] == [("/etc/murano/murano.conf", "murano", "0640")]


def test_without_neutron_no_external_network_is_named(tmp_path: Path) -> None:
    state = render_desired(load_config(config_dir(tmp_path, extra=ON + "enable_neutron: false\n"
                                                  "enable_nova: false\n")), {}, pins={})
    assert not ini(container(state, "murano_api").files["murano.conf"]).has_option("networking", "external_network")


def test_lab_runs_murano_on_every_control_host_steps_once(lab: dict[str, DesiredState]) -> None:
    for host, address in CONTROL.items():
        assert [c.key for c in lab[host].containers_of("murano")] == list(MURANO)
        conf = ini(container(lab[host], "murano_api").files["murano.conf"])
        assert conf["DEFAULT"]["bind_host"] == address and conf["DEFAULT"]["host"] == host
        assert conf["database"]["connection"].endswith("@198.51.100.11:3306/murano")
        assert conf["murano"]["url"] == "http://198.51.100.11:8082"
        # both RabbitMQ nodes, quorum queues (Zed's oslo.messaging: no transient quorum queues)
        assert "@198.51.100.11:5672," in conf["DEFAULT"]["transport_url"]
        assert "@198.51.100.12:5672//" in conf["DEFAULT"]["transport_url"]
        assert conf["oslo_messaging_rabbit"]["rabbit_quorum_queue"] == "true"
        assert not conf.has_option("oslo_messaging_rabbit", "rabbit_transient_quorum_queue")
    for host in ("network01", "compute01"):
        assert not lab[host].containers_of("murano") and not lab[host].steps_of("murano")
    assert [s.name for s in lab["control01"].steps_of("murano")] == [
        "database-murano", "db-sync", "core-library", "keystone-register"]
    assert not lab["control02"].steps_of("murano")


def test_the_api_is_behind_the_vip_with_haproxy(tmp_path: Path) -> None:
    extra = ON + "internal_vip_address: 198.51.100.100\nenable_haproxy: true\nenable_keepalived: true\n"
    root = config_dir(tmp_path, extra=extra, inventory=True)
    config = load_config(root, inventory_path=root / "multinode")
    state = Renderer(config, {}, "control01").render()
    cfg = container(state, "haproxy").files["haproxy.cfg"]
    assert "listen murano_api" in cfg and "bind 198.51.100.100:8082" in cfg
    conf = ini(container(state, "murano_engine").files["murano.conf"])
    assert conf["murano"]["url"] == "http://198.51.100.100:8082"
    step = next(s for s in state.steps_of("murano") if s.kind == "register")
    assert step.payload["endpoints"][0]["urls"]["internal"] == "http://198.51.100.100:8082"


def test_images_are_built_for_zed_only_with_their_own_user() -> None:
    recipes = discover()
    for name in ("murano-base", "murano-api", "murano-engine"):
        assert recipes[name].for_release("zed") and not recipes[name].for_release("epoxy"), name
    assert users_for(recipes["murano-base"]) == {"murano": 450}
    assert users_for(recipes["murano-api"]) == {}
    assert "murano" not in users_for(recipes["openstack-base"])
