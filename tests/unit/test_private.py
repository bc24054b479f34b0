"""Private files: mode 0600 from the first byte, written whole or not at all."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from berth.private import private_file, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    target = tmp_path / "made" / "secret.yml"
    write_private(target, "key: value\n")
    assert target.read_text() == "key: value\n" and mode(target) == 0o600 and mode(target.parent) == 0o700
    write_private(target, b"\x00bytes", sync=False)
    assert target.read_bytes() == b"\x00bytes"


def test_an_existing_world_readable_file_is_replaced_by_a_private_one(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    target.write_text("old")
    target.chmod(0o644)
    write_private(target, "new")
    assert target.read_text() == "new" and mode(target) == 0o600


def test_a_failed_writer_keeps_the_old_file_and_leaves_no_temporary_one(tmp_path: Path) -> None:
    target = tmp_path / "history.json"
    write_private(target, "complete")
    with pytest.raises(RuntimeError), private_file(target) as handle:
        handle.write("half")
        raise RuntimeError("the dump failed")
    assert target.read_text() == "complete" and [p.name for p in tmp_path.iterdir()] == ["history.json"]
