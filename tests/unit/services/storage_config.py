"""A configuration directory for rendering the storage options (Ceph, Glance and Nova back ends) in unit tests,
and the INI reader their checks share."""

from __future__ import annotations

import configparser
from pathlib import Path

from berth.cli.main import main


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
