"""Host addresses and service exports: how services find each other, without the hosts existing."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from berth.config.loader import load_config
from berth.errors import ConfigError
from berth.lifecycle import wiring
from berth.lifecycle.deploy import registrar_for
from berth.lifecycle.postdeploy import credentials
from berth.state.model import load_service
from tests.unit.threehosts import ADDRESSES, make_config_dir, three_hosts


def test_all_in_one_exports(tmp_path: Path) -> None:
    config = load_config(make_config_dir(tmp_path, "api_address: 127.0.0.9\n"))
    ex = wiring.exports(config)
    rabbit = config.passwords["rabbitmq_password"]
    assert ex["transport_url"] == f"rabbit://openstack:{rabbit}@127.0.0.9:5672//"
    assert ex["memcached_servers"] == "127.0.0.9:11211"
    assert ex["keystone_url"] == "http://127.0.0.9:5000" and ex["keystone_auth_url"] == "http://127.0.0.9:5000/v3"
    assert (ex["database_host"], ex["database_port"]) == ("127.0.0.9", 3306)
    glance = config.passwords["glance_database_password"]
    assert ex["database_url"]("glance", "glance", "glance_database_password") == (
        f"mysql+pymysql://glance:{glance}@127.0.0.9:3306/glance")
    assert ex["horizon_url"] == "http://127.0.0.9/horizon/"


def test_export_function_checks_its_arguments(tmp_path: Path) -> None:
    ex = wiring.exports(load_config(make_config_dir(tmp_path)))
    with pytest.raises(jinja2.TemplateRuntimeError, match=r"database_url\(\) of service mariadb takes 3"):
        ex["database_url"]("glance")


def test_addresses_come_from_the_inventory(tmp_path: Path) -> None:
    config = three_hosts(make_config_dir(tmp_path))
    assert {h: wiring.host_address(config, h) for h in ADDRESSES} == ADDRESSES  # compute02: api_address wins
    assert wiring.host_info(config, "compute01").network_interface == "eth1"


def test_a_remote_host_without_an_address_is_an_error(tmp_path: Path) -> None:
    root = make_config_dir(tmp_path)
    (root / "multinode").write_text((root / "multinode").read_text().replace(
        "compute01 ansible_host=198.51.100.12", "compute01 ansible_host=compute01.example"))
    with pytest.raises(ConfigError) as err:
        wiring.host_address(three_hosts(root), "compute01")
    assert "compute01" in err.value.message and "api_address=" in (err.value.hint or "")


def test_exports_name_the_controller(tmp_path: Path) -> None:
    config = three_hosts(make_config_dir(tmp_path))
    ex = wiring.exports(config)
    assert ex["transport_url"].endswith("@198.51.100.11:5672//")
    assert ex["memcached_servers"] == "198.51.100.11:11211"
    assert ex["keystone_url"] == "http://198.51.100.11:5000"


def test_internal_vip_is_where_others_reach_control_services(tmp_path: Path) -> None:
    config = three_hosts(make_config_dir(tmp_path, "internal_vip_address: 198.51.100.100\n"))
    ex = wiring.exports(config)
    assert ex["keystone_url"] == "http://198.51.100.100:5000" and ex["database_host"] == "198.51.100.100"
    # brokers and caches are listed host by host: clients spread over them themselves
    assert ex["memcached_servers"] == "198.51.100.11:11211" and "@198.51.100.11:5672" in ex["transport_url"]
    assert wiring.service_address(config, load_service("glance")) == "198.51.100.100"


def test_lifecycle_reaches_keystone_through_its_exports(tmp_path: Path) -> None:
    config = three_hosts(make_config_dir(tmp_path, "keystone_admin_user: root\n"))
    registrar = registrar_for(config)
    assert registrar is not None and registrar.auth["auth_url"] == "http://198.51.100.11:5000/v3"
    assert registrar.auth["username"] == "root"
    creds = credentials(config)
    assert creds["auth_url"] == "http://198.51.100.11:5000/v3" and creds["username"] == "root"
    assert creds["password"] == config.passwords["keystone_admin_password"]


def test_inventory_variables_override_globals_per_host(tmp_path: Path) -> None:
    root = make_config_dir(tmp_path)
    (root / "multinode").write_text((root / "multinode").read_text().replace(
        "compute01 ansible_host=198.51.100.12", "compute01 ansible_host=198.51.100.12 neutron_external_interface=eth2"))
    config = three_hosts(root)
    assert wiring.host_globals(config, "compute01").neutron_external_interface == "eth2"  # type: ignore[attr-defined]
    assert wiring.host_globals(config, "compute02").network_interface == "eth1"


def test_a_host_variable_of_the_wrong_type_is_an_error(tmp_path: Path) -> None:
    root = make_config_dir(tmp_path)
    (root / "multinode").write_text((root / "multinode").read_text().replace(
        "control01 ansible_host=198.51.100.11", "control01 ansible_host=198.51.100.11 rabbitmq_epmd_port=lots"))
    with pytest.raises(ConfigError, match=r"host `control01`: `rabbitmq_epmd_port`"):
        wiring.host_globals(three_hosts(root), "control01")


def test_config_validate_reports_hosts_without_an_address(tmp_path: Path) -> None:
    from berth.config.validate import validate_config

    root = make_config_dir(tmp_path)
    assert validate_config(root, root / "multinode").problems == []
    (root / "multinode").write_text((root / "multinode").read_text().replace(
        "compute01 ansible_host=198.51.100.12", "compute01 ansible_host=compute01.example"))
    [problem] = validate_config(root, root / "multinode").problems
    assert problem.startswith("host `compute01` has no address")


def test_the_multinode_example_gives_every_host_an_address(tmp_path: Path) -> None:
    from berth.config.validate import validate_config

    root = make_config_dir(tmp_path)
    example = Path(__file__).resolve().parents[3] / "etc" / "berth" / "multinode"
    assert validate_config(root, example).problems == []


def test_an_export_that_is_one_expression_keeps_its_type(tmp_path: Path) -> None:
    ex = wiring.exports(load_config(make_config_dir(tmp_path)))
    assert ex["database_port"] == 3306 and ex["rabbitmq_port"] == 5672 and ex["nova_metadata_port"] == 8775
    assert isinstance(ex["keystone_admin"], dict) and ex["keystone_admin"]["username"] == "admin"


def test_an_inventory_group_named_after_a_container_narrows_it(tmp_path: Path) -> None:
    """Kolla's per-service groups: `[mariadb]` runs the database on some controllers only."""
    from berth.lifecycle.render import Renderer

    root = make_config_dir(tmp_path)
    (root / "multinode").write_text("[control]\nctl1 ansible_host=198.51.100.11\nctl2 ansible_host=198.51.100.12\n"
                                    "[mariadb]\nctl2\n[network:children]\ncontrol\n[compute]\n"
                                    "cmp1 ansible_host=198.51.100.14\n[storage]\n[monitoring]\n[deployment]\n")
    config = three_hosts(root)
    mariadb = load_service("mariadb")
    assert wiring.container_hosts(config, mariadb, "mariadb") == ["ctl2"]
    assert wiring.container_hosts(config, load_service("keystone"), "keystone") == ["ctl1", "ctl2"]
    assert wiring.exports(config)["database_host"] == "198.51.100.12"
    assert "mariadb" not in {c.key for c in Renderer(config, {}, "ctl1").render().containers}
    assert "mariadb" in {c.key for c in Renderer(config, {}, "ctl2").render().containers}


def test_templates_reach_any_host_by_name(tmp_path: Path) -> None:
    """`host_address(name)`: a service lists the hosts of its containers (`container_hosts`) with their addresses,
    e.g. a storage ring naming every storage host, whichever host the template is rendered for."""
    from berth.lifecycle.render import Renderer

    renderer = Renderer(three_hosts(make_config_dir(tmp_path)), {}, "control01")
    address = renderer.base_context["host_address"]
    assert [address(h) for h in ("control01", "compute01", "compute02")] == list(ADDRESSES.values())
    with pytest.raises(ConfigError, match="has no address"):
        address("nowhere")
