"""Scaffolding the services' render tests share: a configuration directory (deployment `unit`, passwords
generated, an optional inventory) and readers of what a desired state holds. Pure: no engine."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

from berth.cli.main import main
from berth.state.desired import DesiredContainer, DesiredState


def config_dir(root: Path, extra: str, inventory: str = "") -> Path:
    """globals.yml of deployment `unit` with `extra`, an optional `multinode` inventory, passwords generated."""
    (root / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {root}/state\nlog_dir: {root}/log\n"
                                      f"ceph_data_dir: {root}/data\n{extra}")
    if inventory:
        (root / "multinode").write_text(inventory)
    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    return root


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.read_string(text)
    return parser


def container(state: DesiredState, key: str) -> DesiredContainer:
    found = state.container(key)
    assert found is not None, f"{key} is not rendered on {state.host}"
    return found


def files_json(item: DesiredContainer) -> dict[str, dict[str, str]]:
    """config.json's files by destination (owner, mode, source)."""
    return {f["dest"]: f for f in json.loads(item.files["config.json"])["files"]}


# Two controllers (one of them the network host too) and one compute: where a control-plane service runs on
# every controller and nowhere else
TWO_CONTROLLERS = """\
[control]
control01 ansible_host=198.51.100.11
control02 ansible_host=198.51.100.12
[network]
control01
[compute]
compute01 ansible_host=198.51.100.31
[storage]
[monitoring]
[deployment]
control01
"""
