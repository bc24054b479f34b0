"""A configuration with a 3-host inventory (one controller, two computes; TEST-NET addresses) for unit tests.

Nothing here needs the hosts to exist: addresses come from the inventory.
"""

from __future__ import annotations

from pathlib import Path

from berth.cli.main import main
from berth.config.loader import Config, load_config

CONTROLLER, COMPUTES = "control01", ("compute01", "compute02")
ADDRESSES = {"control01": "198.51.100.11", "compute01": "198.51.100.12", "compute02": "198.51.100.13"}
INVENTORY = """\
[control]
control01 ansible_host=198.51.100.11 network_interface=eth0
[network:children]
control
[compute]
compute01 ansible_host=198.51.100.12 network_interface=eth1
compute02 api_address=198.51.100.13 ansible_host=compute02.example network_interface=eth1
[storage]
[monitoring]
[deployment]
control01
"""


def make_config_dir(root: Path, globals_text: str = "") -> Path:
    """globals.yml (deployment `unit`, state below root), generated passwords and the inventory `multinode`."""
    (root / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {root}/state\nlog_dir: {root}/log\n"
                                      + globals_text)
    (root / "multinode").write_text(INVENTORY)
    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    return root


def three_hosts(root: Path) -> Config:
    return load_config(root, inventory_path=root / "multinode")
