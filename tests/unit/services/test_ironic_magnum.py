"""Ironic and Magnum render for the all-in-one and for a lab inventory (two controllers), on Epoxy and Zed: each
service's API and conductor in their own containers on the control hosts, Ironic with fake-hardware only (every
interface fake, networking and storage noop, no DHCP provider), Magnum with its trustee domain (a step) and its
clients on the internal endpoints; the catalog's `baremetal` and `container-infra`; off by default.

Pure: no engine, TEST-NET addresses.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from berth.config.loader import Config, load_config
from berth.errors import ConfigError
from berth.images.recipes import discover, users_for
from berth.lifecycle.render import render_desired
from berth.state.desired import DesiredState, DesiredStep
from tests.unit.services import rendering
from tests.unit.services.rendering import container, ini

LAB = rendering.TWO_CONTROLLERS
ADDRESSES = {"control01": "198.51.100.11", "control02": "198.51.100.12"}
ON = "enable_ironic: true\nenable_magnum: true\n"
IRONIC = ("ironic_api", "ironic_conductor")
MAGNUM = ("magnum_api", "magnum_conductor")
FAKE = ("bios", "boot", "console", "deploy", "inspect", "management", "power", "raid", "rescue", "vendor")


def config_dir(root: Path, extra: str = ON, inventory: bool = False) -> Path:
    return rendering.config_dir(root, extra, LAB if inventory else "")


@pytest.fixture(scope="module")
def aio_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(config_dir(tmp_path_factory.mktemp("bm-aio")))


@pytest.fixture(scope="module")
def aio(aio_config: Config) -> DesiredState:
    return render_desired(aio_config, {}, pins={})


@pytest.fixture(scope="module")
def zed(tmp_path_factory: pytest.TempPathFactory) -> DesiredState:
    root = config_dir(tmp_path_factory.mktemp("bm-zed"), extra=ON + "openstack_release: zed\n")
    return render_desired(load_config(root), {}, pins={})


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DesiredState]:
    root = config_dir(tmp_path_factory.mktemp("bm-lab"), inventory=True)
    config = load_config(root, inventory_path=root / "multinode")
    return {host: render_desired(config, {}, host, pins={}) for host in ("control01", "control02", "compute01")}




def step(state: DesiredState, service: str, name: str) -> DesiredStep:
    return next(s for s in (*state.steps_of(service), *state.upgrade_steps) if s.service == service
                and s.name == name)


def test_off_by_default(tmp_path: Path) -> None:
    desired = render_desired(load_config(config_dir(tmp_path, extra="")), {}, pins={})
    for service in ("ironic", "magnum"):
        assert not desired.containers_of(service) and not desired.steps_of(service)


def test_all_in_one_runs_api_and_conductor_of_each(aio: DesiredState) -> None:
    assert [c.key for c in aio.containers_of("ironic")] == list(IRONIC)
    assert [c.key for c in aio.containers_of("magnum")] == list(MAGNUM)
    assert {c.image for c in (*aio.containers_of("ironic"), *aio.containers_of("magnum"))} == {
        "berth/ironic-api:epoxy", "berth/ironic-conductor:epoxy", "berth/magnum-api:epoxy",
        "berth/magnum-conductor:epoxy"}
    for key in (*IRONIC, *MAGNUM):
        item = container(aio, key)
        assert item.spec["network_mode"] == "host" and not item.spec["privileged"] and not item.spec["cap_add"]
        assert json.loads(item.files["config.json"])["user"] == key.split("_")[0]
    assert container(aio, "ironic_api").health == ("http", "http://127.0.0.1:6385/")
    assert container(aio, "magnum_api").health == ("http", "http://127.0.0.1:9511/")
    for key in ("ironic_conductor", "magnum_conductor"):
        assert container(aio, key).health == ("cmd", "--", "berth-rpc-health", key.replace("_", "-"))
    assert [(s.name, s.kind, s.phase) for s in aio.steps_of("ironic")] == [
        ("database-ironic", "database", "before"), ("db-sync", "oneshot", "before"),
        ("keystone-register", "register", "before")]
    assert [(s.name, s.kind, s.phase) for s in aio.steps_of("magnum")] == [
        ("database-magnum", "database", "before"), ("db-sync", "oneshot", "before"),
        ("domain-setup", "oneshot", "before"), ("keystone-register", "register", "before")]
    units = {u.name: u for u in aio.services}
    assert set(units["ironic"].depends_on) == {"mariadb", "rabbitmq", "memcached", "keystone", "glance"}
    assert set(units["magnum"].depends_on) == {"mariadb", "rabbitmq", "memcached", "keystone", "glance", "heat"}


def test_ironic_enables_fake_hardware_only(aio: DesiredState, aio_config: Config) -> None:
    conf = ini(container(aio, "ironic_conductor").files["ironic.conf"])
    assert container(aio, "ironic_api").files["ironic.conf"] == container(aio, "ironic_conductor").files["ironic.conf"]
    default = conf["DEFAULT"]
    assert default["enabled_hardware_types"] == "fake-hardware"
    for kind in (*FAKE, "firmware"):
        assert default[f"enabled_{kind}_interfaces"] == "fake", kind
    for kind in ("network", "storage"):
        assert default[f"enabled_{kind}_interfaces"] == default[f"default_{kind}_interface"] == "noop"
    assert conf["dhcp"]["dhcp_provider"] == "none" and conf["nova"]["send_power_notifications"] == "false"
    assert conf["conductor"]["automated_clean"] == "true"
    password = aio_config.passwords["ironic_database_password"]
    assert conf["database"]["connection"] == f"mysql+pymysql://ironic:{password}@127.0.0.1:3306/ironic"
    assert conf["keystone_authtoken"]["username"] == conf["glance"]["username"] == "ironic"
    assert conf["glance"]["valid_interfaces"] == "internal"
    uwsgi = container(aio, "ironic_api").files["ironic-api-uwsgi.ini"]
    assert "wsgi-file = /usr/bin/ironic-api-wsgi" in uwsgi and "http-socket = 127.0.0.1:6385" in uwsgi


def test_magnum_has_its_trustee_domain_and_internal_clients(aio: DesiredState, aio_config: Config) -> None:
    conf = ini(container(aio, "magnum_conductor").files["magnum.conf"])
    assert conf["trust"]["trustee_domain_name"] == "magnum"
    assert conf["trust"]["trustee_domain_admin_name"] == "magnum_trustee_domain_admin"
    assert conf["trust"]["trustee_domain_admin_password"] == aio_config.passwords[
        "magnum_trustee_domain_admin_password"]
    assert (conf["keystone_auth"]["auth_url"], conf["keystone_auth"]["username"]) == (
        "http://127.0.0.1:5000/v3", "magnum")
    assert conf["certificates"]["cert_manager_type"] == "x509keypair"
    for client in ("cinder", "glance", "heat", "neutron", "nova", "octavia", "magnum"):
        assert conf[f"{client}_client"]["endpoint_type"] == "internalURL", client
    assert (conf["api"]["host"], conf["api"]["port"]) == ("127.0.0.1", "9511")
    script = step(aio, "magnum", "domain-setup").container
    assert script is not None
    ast.parse(script.files["berth-magnum-domain.py"])
    assert json.loads(script.files["config.json"])["files"][-1]["mode"] == "0700"  # it holds the admin password
    uwsgi = container(aio, "magnum_api").files["magnum-api-uwsgi.ini"]
    assert "wsgi-file = /usr/bin/magnum-api-wsgi" in uwsgi and "http-socket = 127.0.0.1:9511" in uwsgi


def test_the_catalog_has_baremetal_and_container_infra(aio: DesiredState) -> None:
    for service, kind, url in (("ironic", "baremetal", "http://127.0.0.1:6385"),
                               ("magnum", "container-infra", "http://127.0.0.1:9511/v1")):
        register = step(aio, service, "keystone-register")
        assert [(s["name"], s["type"]) for s in register.payload["services"]] == [(service, kind)]
        assert register.payload["endpoints"][0]["urls"] == {"public": url, "internal": url}
        assert [u["name"] for u in register.payload["users"]] == [service]


def test_upgrades_migrate_and_check(aio: DesiredState) -> None:
    upgrade = {(s.service, s.name): s for s in aio.upgrade_steps if s.service in ("ironic", "magnum")}
    assert set(upgrade) == {("ironic", "online-migrations"), ("ironic", "upgrade-check"),
                            ("magnum", "upgrade-check")}
    assert all(s.phase == "after" for s in upgrade.values())


def test_lab_control_hosts_run_both_and_steps_run_once(lab: dict[str, DesiredState]) -> None:
    for host, address in ADDRESSES.items():
        assert [c.key for c in lab[host].containers_of("ironic")] == list(IRONIC)
        assert [c.key for c in lab[host].containers_of("magnum")] == list(MAGNUM)
        ironic = ini(container(lab[host], "ironic_conductor").files["ironic.conf"])
        assert (ironic["DEFAULT"]["host"], ironic["DEFAULT"]["my_ip"]) == (host, address)
        assert ironic["database"]["connection"].endswith("@198.51.100.11:3306/ironic")
        magnum = ini(container(lab[host], "magnum_api").files["magnum.conf"])
        assert magnum["api"]["host"] == address and magnum["DEFAULT"]["host"] == host
        assert f"http-socket = {address}:6385" in container(lab[host], "ironic_api").files["ironic-api-uwsgi.ini"]
    assert not lab["compute01"].containers_of("ironic") and not lab["compute01"].containers_of("magnum")
    assert [s.name for s in lab["control01"].steps_of("magnum")] == [
        "database-magnum", "db-sync", "domain-setup", "keystone-register"]
    assert not lab["control02"].steps_of("ironic") and not lab["control02"].steps_of("magnum")
    register = step(lab["control01"], "ironic", "keystone-register")
    assert register.payload["endpoints"][0]["urls"]["public"] == "http://198.51.100.11:6385"


def test_zed_renders_both_without_the_firmware_interface(zed: DesiredState) -> None:
    images = {c.image for c in (*zed.containers_of("ironic"), *zed.containers_of("magnum"))}
    assert images == {"berth/ironic-api:zed", "berth/ironic-conductor:zed", "berth/magnum-api:zed",
                      "berth/magnum-conductor:zed"}
    conf = ini(container(zed, "ironic_conductor").files["ironic.conf"])
    assert "enabled_firmware_interfaces" not in conf["DEFAULT"]  # Zed's Ironic 21 has no firmware interface
    assert conf["DEFAULT"]["enabled_deploy_interfaces"] == "fake"


def test_automated_cleaning_is_an_option(tmp_path: Path) -> None:
    state = render_desired(load_config(config_dir(tmp_path, extra=ON + "ironic_automated_clean: false\n")), {},
                           pins={})
    assert ini(container(state, "ironic_conductor").files["ironic.conf"])["conductor"]["automated_clean"] == "false"


def test_magnum_without_glance_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir(tmp_path, extra="enable_magnum: true\nenable_glance: false\n"))
    assert any("enable_glance" in problem for problem in [str(info.value), *info.value.details])


def test_each_gets_its_own_fixed_user_in_its_base_image() -> None:
    recipes = discover()
    assert users_for(recipes["ironic-base"]) == {"ironic": 440}
    assert users_for(recipes["magnum-base"]) == {"magnum": 441}
    assert users_for(recipes["ironic-api"]) == {} and users_for(recipes["magnum-conductor"]) == {}
    assert not {"ironic", "magnum"} & set(users_for(recipes["openstack-base"]))
