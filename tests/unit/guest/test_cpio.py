"""The initramfs archive: what we write is what the cpio tool (and the kernel's newc parser) reads back."""

from __future__ import annotations

import stat
import subprocess

import pytest

from berth.guest.cpio import Entry, read_newc, write_newc

ENTRIES = [
    Entry.directory("bin"),
    Entry.file("bin/busybox", b"\x7fELF" + bytes(range(256)) * 3, 0o755),
    Entry.symlink("bin/sh", "busybox"),
    Entry.directory("dev"),
    Entry.chardev("dev/console", 5, 1),
    Entry.file("init", b"#!/bin/sh\necho hi\n", 0o755),
    Entry.file("odd-len", b"abc"),
    Entry.file("empty", b""),
]


def test_round_trip_keeps_names_modes_data_and_devices():
    blob = write_newc(ENTRIES)
    assert len(blob) % 4 == 0
    assert list(read_newc(blob)) == ENTRIES


def test_output_is_reproducible():
    assert write_newc(ENTRIES) == write_newc(list(ENTRIES))


def test_leading_slash_is_stripped_like_the_kernel_expects():
    (entry,) = read_newc(write_newc([Entry.file("/init", b"x")]))
    assert entry.name == "init"


def test_bad_magic_is_rejected():
    with pytest.raises(ValueError, match="magic"):
        list(read_newc(b"070707" + b"0" * 200))


def test_gnu_cpio_lists_the_same_members_with_types():
    proc = subprocess.run(["cpio", "-t", "-v", "--quiet"], input=write_newc(ENTRIES), capture_output=True,
                          check=True)
    lines = proc.stdout.decode().splitlines()
    names = [line.split()[-1] if "->" not in line else line.split()[-3] for line in lines]
    assert names == [e.name for e in ENTRIES]
    kinds = {line.split()[-1] if "->" not in line else line.split()[-3]: line[0] for line in lines}
    assert kinds["dev/console"] == "c" and kinds["bin/sh"] == "l" and kinds["bin"] == "d"
    assert "bin/sh -> busybox" in proc.stdout.decode()
    assert stat.S_ISREG(ENTRIES[1].mode) and kinds["bin/busybox"] == "-"
