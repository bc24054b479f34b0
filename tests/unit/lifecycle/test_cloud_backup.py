"""Backup folders as `berth backup --list` and retention see them. Pure (folders in a temporary directory)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from berth.errors import ConfigError
from berth.lifecycle import cloud_backup


def config(tmp_path: Path) -> Any:
    return SimpleNamespace(deployment_dir=tmp_path / "bk", globals=SimpleNamespace(deployment_name="bk"))


def make(tmp_path: Path, name: str, taken_at: float, size: int = 10) -> Path:
    folder = tmp_path / "bk" / "backups" / name
    folder.mkdir(parents=True)
    files = [{"file": "db/keystone.sql.gz", "size": size, "sha256": "x", "database": "keystone"},
             {"file": "config.tar.gz", "size": 5, "sha256": "y"}]
    (folder / "manifest.json").write_text(json.dumps({"taken_at": taken_at, "files": files}))
    return folder


def test_listing_is_oldest_first_and_skips_what_is_not_a_finished_backup(tmp_path: Path) -> None:
    make(tmp_path, "cloud-20261202-100000", 200.0)
    make(tmp_path, "cloud-20261202-090000", 100.0, size=20)
    (tmp_path / "bk" / "backups" / ".cloud-20261202-110000.partial").mkdir()  # interrupted: never listed
    (tmp_path / "bk" / "backups" / "14").mkdir()  # an upgrade's own database backups live here too
    items = cloud_backup.listing(config(tmp_path))
    assert [(b.name, b.size, b.databases) for b in items] == [("cloud-20261202-090000", 25, ["keystone"]),
                                                            ("cloud-20261202-100000", 15, ["keystone"])]


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    for n in range(4):
        make(tmp_path, f"cloud-2026120{n}-000000", float(n))
    removed = cloud_backup.prune(config(tmp_path), 3)
    assert [b.name for b in removed] == ["cloud-20261200-000000"]
    assert len(cloud_backup.listing(config(tmp_path))) == 3


def test_a_broken_manifest_and_an_unknown_name_are_named(tmp_path: Path) -> None:
    folder = make(tmp_path, "cloud-20261202-100000", 1.0)
    (folder / "manifest.json").write_text("{")
    with pytest.raises(ConfigError, match="not a berth backup"):
        cloud_backup.find(config(tmp_path), "cloud-20261202-100000")
    with pytest.raises(ConfigError, match="no backup 'cloud-x' for deployment bk"):
        cloud_backup.find(config(tmp_path), "cloud-x")
