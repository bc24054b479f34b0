"""HAProxy and Keepalived in front of three controllers, and the Keystone keys they share: rendered, not run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from berth.config.loader import Config, load_config
from berth.errors import BerthError
from berth.lifecycle import wiring
from berth.lifecycle.render import Renderer
from berth.state.desired import DesiredState
from berth.state.model import ServiceDef

CONTROLLERS = {"ctl1": "198.51.100.11", "ctl2": "198.51.100.12", "ctl3": "198.51.100.13"}
VIP = "198.51.100.100"
INVENTORY = "[control]\n" + "".join(f"{h} ansible_host={a} network_interface=eth0\n" for h, a in CONTROLLERS.items()) + """\
[network:children]
control
[compute]
cmp1 ansible_host=198.51.100.14 network_interface=eth0
[storage]
[monitoring]
[deployment]
"""


def ha_config(root: Path, extra: str = "") -> Config:
    from berth.cli.main import main

    (root / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {root}/state\nlog_dir: {root}/log\n"
                                      f"internal_vip_address: {VIP}\nenable_haproxy: true\nenable_keepalived: true\n"
                                      + extra)
    (root / "multinode").write_text(INVENTORY)
    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    return load_config(root, inventory_path=root / "multinode")


def rendered(config: Config, host: str) -> DesiredState:
    return Renderer(config, {}, host).render()


def file_of(state: DesiredState, container: str, name: str) -> str:
    wanted = next(c for c in state.containers if c.key == container)
    return next(text for dest, text in wanted.files.items() if dest.endswith(name))


def listen_block(cfg: str, name: str) -> str:
    match = re.search(rf"^listen {name}\n(.*?)(?=^listen |\Z)", cfg, re.DOTALL | re.MULTILINE)
    assert match, f"no listen {name} in haproxy.cfg"
    return match.group(1)


def test_every_api_is_served_on_the_vip_over_every_controller(tmp_path: Path) -> None:
    config = ha_config(tmp_path)
    cfg = file_of(rendered(config, "ctl2"), "haproxy", "haproxy.cfg")
    for name, port in {"keystone_api": 5000, "glance_api": 9292, "nova_api": 8774, "nova_metadata": 8775,
                       "neutron_api": 9696, "placement_api": 8778, "heat_api": 8004, "horizon_http": 80}.items():
        block = listen_block(cfg, name)
        assert f"bind {VIP}:{port}\n" in block
        servers = re.findall(r"server (\S+) (\S+) check(.*)", block)
        assert [(s, a) for s, a, _ in servers] == [(h, f"{a}:{port}") for h, a in CONTROLLERS.items()]
        # every API server takes requests, except Glance's: its file store is each host's own (active/backup)
        expected = ["", " backup", " backup"] if name == "glance_api" else ["", "", ""]
        assert [rest for *_, rest in servers] == expected, name
    assert "option httpchk GET /v3" in listen_block(cfg, "keystone_api")
    assert "stats socket ipv4@127.0.0.1:1985 level admin" in cfg and "bind 127.0.0.1:1984" in cfg


def test_the_database_has_one_writer_and_the_others_are_backups(tmp_path: Path) -> None:
    cfg = file_of(rendered(ha_config(tmp_path), "ctl1"), "haproxy", "haproxy.cfg")
    block = listen_block(cfg, "mariadb_mysql")
    assert "mode tcp" in block and "option httpchk" not in block
    servers = re.findall(r"server (\S+) \S+ check(.*)", block)
    assert servers == [("ctl1", ""), ("ctl2", " backup"), ("ctl3", " backup")]
    assert "stick on dst" in block and "stick" not in listen_block(cfg, "glance_api")  # sticky: the database only


def test_clients_and_the_catalog_use_the_vip(tmp_path: Path) -> None:
    config = ha_config(tmp_path)
    ex = wiring.exports(config)
    assert ex["keystone_url"] == f"http://{VIP}:5000" and ex["database_host"] == VIP
    nova = file_of(rendered(config, "ctl3"), "nova_api", "nova.conf")
    assert f"@{VIP}:3306/nova" in nova and f"auth_url = http://{VIP}:5000" in nova
    assert "osapi_compute_listen = 198.51.100.13" in nova  # the API itself binds its own host's address
    horizon = file_of(rendered(config, "ctl1"), "horizon", "local_settings.py")
    assert f'"{VIP}"' in horizon.split("ALLOWED_HOSTS", 1)[1].splitlines()[0]


def test_keepalived_peers_priorities_and_the_vip(tmp_path: Path) -> None:
    config = ha_config(tmp_path, "keepalived_virtual_router_id: 77\n")
    priorities = []
    for host, address in CONTROLLERS.items():
        conf = file_of(rendered(config, host), "keepalived", "keepalived.conf")
        peers = re.search(r"unicast_peer \{\n(.*?)\n\s*\}", conf, re.DOTALL)
        assert peers and peers.group(1).split() == [a for h, a in CONTROLLERS.items() if h != host]
        assert f"unicast_src_ip {address}" in conf and "virtual_router_id 77" in conf
        assert f"{VIP}/32 dev eth0" in conf and "nopreempt" in conf
        assert f"auth_pass {config.passwords['keepalived_password'][:8]}" in conf
        priorities.append(int(re.search(r"priority (\d+)", conf).group(1)))  # type: ignore[union-attr]
    assert priorities == sorted(priorities, reverse=True) and len(set(priorities)) == 3


def test_computes_run_neither_haproxy_nor_keepalived(tmp_path: Path) -> None:
    keys = {c.key for c in rendered(ha_config(tmp_path), "cmp1").containers}
    assert "nova_compute" in keys and not keys & {"haproxy", "keepalived"}


@pytest.mark.parametrize("key", ["enable_haproxy", "enable_keepalived"])
def test_a_load_balancer_without_a_vip_is_refused(tmp_path: Path, key: str) -> None:
    from berth.cli.main import main

    (tmp_path / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {tmp_path}/s\n{key}: true\n")
    assert main(["--quiet", "--config-dir", str(tmp_path), "genpwd"]) == 0
    with pytest.raises(BerthError) as caught:
        load_config(tmp_path)
    assert any(f"globals.yml: `{key}: true` needs `internal_vip_address`" in d for d in caught.value.details)


def test_keystone_hosts_share_the_keys_from_passwords(tmp_path: Path) -> None:
    config = ha_config(tmp_path)
    keys = [config.passwords[f"keystone_{kind}_key_{n}"] for kind in ("fernet", "credential") for n in (0, 1)]
    scripts = set()
    for host in CONTROLLERS:
        step = next(s for s in rendered(config, host).steps if s.name == "key-share")
        assert step.container is not None
        script = next(text for dest, text in step.container.files.items() if dest.endswith("berth-keys.sh"))
        assert all(f"'{k}'" in script for k in keys)
        scripts.add(script.split("\n", 2)[2])  # after the header naming the container
    assert len(scripts) == 1


def test_one_keystone_host_keeps_its_own_keys(tmp_path: Path) -> None:
    from berth.cli.main import main

    (tmp_path / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {tmp_path}/s\napi_address: 127.0.0.9\n")
    assert main(["--quiet", "--config-dir", str(tmp_path), "genpwd"]) == 0
    config = load_config(tmp_path)
    step = next(s for s in rendered(config, "localhost").steps if s.name == "key-share")
    assert step.container is not None
    script = next(text for dest, text in step.container.files.items() if dest.endswith("berth-keys.sh"))
    assert config.passwords["keystone_fernet_key_1"] not in script and "keeps the keys" in script


def test_a_frontend_must_name_a_port_of_its_service() -> None:
    with pytest.raises(ValueError, match="port `web` is not a named port"):
        ServiceDef.model_validate({"name": "x", "ports": [{"name": "api", "port": 1, "container": "x"}],
                                   "loadbalancer": [{"port": "web"}]})


def test_services_reaching_a_balanced_one_wait_for_the_vip(tmp_path: Path) -> None:
    units = {u.name: u.depends_on for u in rendered(ha_config(tmp_path), "ctl1").services}
    assert {"haproxy", "keepalived"} <= set(units["keystone"])  # keystone reaches mariadb through the VIP
    assert {"haproxy", "keepalived"} <= set(units["glance"])
    assert units["mariadb"] == () and units["haproxy"] == () and units["keepalived"] == ("haproxy",)
