"""Inventories: the built-in all-in-one and Ansible INI / YAML files, with located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.config.inventory import STANDARD_GROUPS, all_in_one, load_inventory, parse_ini_inventory
from berth.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "etc" / "berth" / "multinode"


def _ini(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory"
    path.write_text(text)
    return path


def test_all_in_one_puts_localhost_everywhere() -> None:
    inventory = load_inventory(None)
    assert inventory.is_all_in_one and inventory == all_in_one()
    assert inventory.groups_of("localhost") == sorted(STANDARD_GROUPS)
    assert inventory.hosts_in("compute") == ["localhost"]
    assert inventory.hosts["localhost"].is_local
    assert inventory.problems() == []


def test_ini_groups_children_and_vars(tmp_path: Path) -> None:
    path = _ini(tmp_path, """
# comment
[control]
ctl1 ansible_host=192.0.2.1 role="a b"
ctl2

[network:children]
control

[compute]
cmp[1:3]   # three hosts

[compute:vars]
network_interface=eth1

[control:vars]
network_interface = eth0

[all:vars]
ansible_user=root
""")
    inventory = load_inventory(path)
    assert inventory.hosts_in("control") == ["ctl1", "ctl2"]
    assert inventory.hosts_in("network") == ["ctl1", "ctl2"]
    assert inventory.hosts_in("compute") == ["cmp1", "cmp2", "cmp3"]
    assert inventory.hosts_in("storage") == []
    assert inventory.groups_of("ctl1") == ["control", "network"]
    ctl1 = inventory.hosts["ctl1"]
    assert ctl1.address == "192.0.2.1" and ctl1.vars["role"] == "a b"
    assert ctl1.vars["network_interface"] == "eth0" and ctl1.vars["ansible_user"] == "root"
    assert inventory.hosts["cmp2"].vars["network_interface"] == "eth1"
    assert inventory.hosts["cmp2"].address == "cmp2"
    assert sorted(inventory.hosts_in("all")) == ["cmp1", "cmp2", "cmp3", "ctl1", "ctl2"]
    assert [p.split(": ")[1] for p in inventory.problems()] == [
        "group `storage` is not defined (add `[storage]`, even empty)",
        "group `monitoring` is not defined (add `[monitoring]`, even empty)",
        "group `deployment` is not defined (add `[deployment]`, even empty)",
    ]


def test_host_vars_beat_group_vars(tmp_path: Path) -> None:
    inventory = load_inventory(_ini(tmp_path, "[compute]\nc1 x=host\n[compute:vars]\nx=group\ny=group\n"))
    assert dict(inventory.hosts["c1"].vars) == {"x": "host", "y": "group"}


def test_zero_padded_ranges(tmp_path: Path) -> None:
    inventory = load_inventory(_ini(tmp_path, "[compute]\nnode[08:10]\n"))
    assert inventory.hosts_in("compute") == ["node08", "node09", "node10"]


@pytest.mark.parametrize("text, where, message", [
    ("[control]\nh1\n[control:kids]\nx\n", 3, "unknown section kind `:kids`"),
    ("[control\nh1\n", 1, "malformed section header"),
    ("[control]\nh1\n[control:vars]\njust_a_word\n", 4, "expected `name=value`"),
    ("[control]\nh1 bad\n", 2, "expected `name=value`, got 'bad'"),
    ("[network:children]\n\ncontroll\n[control]\nh\n", 3, "lists child group `controll` which is not defined"),
    ("[control]\nh1 a='x\n", 2, "No closing quotation"),
])
def test_ini_errors_are_located(tmp_path: Path, text: str, where: int, message: str) -> None:
    path = _ini(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    assert info.value.message.startswith(f"{path}:{where}: ")
    assert message in info.value.message


def test_child_cycle_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cycle"):
        parse_ini_inventory("[a:children]\nb\n[b:children]\na\n", tmp_path / "inv")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="inventory does not exist"):
        load_inventory(tmp_path / "nope")


def test_yaml_inventory(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text("""
all:
  vars:
    ansible_user: root
  children:
    control:
      hosts:
        ctl1: {ansible_host: 192.0.2.1}
    compute:
      hosts:
        cmp[1:2]:
      vars:
        network_interface: eth1
    network:
      children:
        control:
""")
    inventory = load_inventory(path)
    assert inventory.hosts_in("network") == ["ctl1"]
    assert inventory.hosts_in("compute") == ["cmp1", "cmp2"]
    assert inventory.hosts["cmp1"].vars == {"ansible_user": "root", "network_interface": "eth1"}
    assert inventory.hosts["ctl1"].address == "192.0.2.1"


def test_yaml_inventory_errors_are_located(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("all:\n  children:\n    control:\n      hostz: {}\n")
    with pytest.raises(ConfigError, match=rf"^{path}:4: unknown group key `hostz`"):
        load_inventory(path)


def test_the_multinode_example_is_valid() -> None:
    inventory = load_inventory(EXAMPLE)
    assert inventory.problems() == []
    assert inventory.hosts_in("network") == ["control01", "control02", "control03"]
    assert inventory.hosts_in("compute") == ["compute01", "compute02"]
    assert inventory.hosts_in("deployment") == ["control01"]
    assert inventory.hosts["compute01"].vars["network_interface"] == "eth1"
    assert inventory.hosts["control01"].vars["ansible_user"] == "root"
