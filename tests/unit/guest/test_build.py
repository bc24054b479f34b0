"""The guest's scripts, its initramfs layout, the content hash and the cache (no download here)."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from berth.errors import BuildError
from berth.guest import build, debs, glance
from berth.guest.cpio import read_newc, write_newc

KERNEL = debs.Package("linux-image-6.1.0-56-amd64", "6.1.192-2")
BUSYBOX = debs.Package("busybox-static", "1:1.35.0-4+deb12u1+b1")


def test_init_prints_the_marker_lines_and_asks_both_metadata_services():
    init = build.guest_file("init.sh")
    for needle in ('say "BERTH-TEST-GUEST-OK"', 'say "BERTH-IP $addr"', 'say "BERTH-INSTANCE-ID $id"',
                   "http://169.254.169.254/openstack/latest/meta_data.json",
                   "http://169.254.169.254/latest/meta-data/instance-id", "berth.metadata_timeout"):
        assert needle in init
    assert init.index("openstack/latest") < init.index("latest/meta-data/instance-id")


def test_init_marks_extra_disks_and_leaves_the_root_disk_alone():
    init = build.guest_file("init.sh")
    for needle in ('say "BERTH-DISK $1 found $got"', 'say "BERTH-DISK $1 wrote $token"', 'say "BERTH-DISK $d gone"',
                   "grep '^vd[b-z]'", "watch_disks &"):
        assert needle in init
    # the watcher starts after the marker lines, so they stay the first thing the console shows
    assert init.index('say "BERTH-INSTANCE-ID $id"') < init.index("watch_disks &")


@pytest.mark.parametrize("name", ["init.sh", "udhcpc.script"])
def test_scripts_parse_as_posix_shell(name: str, tmp_path: Path):
    script = tmp_path / name
    script.write_text(build.guest_file(name))
    subprocess.run(["sh", "-n", str(script)], check=True)


def test_dhcp_hook_applies_classless_routes_and_records_the_address():
    hook = build.guest_file("udhcpc.script")
    assert "$staticroutes" in hook and "/run/berth-ip" in hook and "$mtu" in hook


def test_initramfs_layout():
    modules = [("virtio", b"\x7fELF-a"), ("virtio_net", b"\x7fELF-b")]
    entries = {e.name: e for e in read_newc(write_newc(build.initramfs_entries(b"BB", modules)))}
    assert stat.S_ISCHR(entries["dev/console"].mode) and entries["dev/console"].rdev == (5, 1)
    assert entries["init"].mode & 0o111 and entries["init"].data.startswith(b"#!/bin/sh")
    assert entries["bin/sh"].data == b"busybox"
    assert entries["etc/berth/modules"].data == b"virtio\nvirtio_net\n"
    assert entries["lib/modules/virtio_net.ko"].data == b"\x7fELF-b"


def test_hash_follows_package_versions():
    same = build.content_hash(KERNEL, BUSYBOX)
    assert same == build.content_hash(KERNEL, BUSYBOX)
    newer = debs.Package(KERNEL.name, "6.1.193-1")
    assert build.content_hash(newer, BUSYBOX) != same


def test_kernel_package_is_read_from_the_metapackage():
    fields = {"Depends": "linux-image-6.1.0-56-amd64 (= 6.1.192-2)"}
    assert debs.kernel_package(fields) == KERNEL
    with pytest.raises(BuildError):
        debs.kernel_package({"Depends": "something-else"})


def _fake_cache(root: Path) -> Path:
    target = root / build.content_hash(KERNEL, BUSYBOX)
    target.mkdir(parents=True)
    for name in (build.KERNEL_FILE, build.RAMDISK_FILE, build.DISK_FILE):
        (target / name).write_bytes(b"x")
    (target / build.MANIFEST).write_text(json.dumps({"kernel_version": "6.1.0-56-amd64"}))
    return target


def test_cached_build_downloads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = _fake_cache(tmp_path)
    monkeypatch.setattr(debs, "candidates", lambda progress: (KERNEL, BUSYBOX))

    def no_download(*_args: object) -> list[Path]:
        raise AssertionError("a cached build must not download")

    monkeypatch.setattr(debs, "download", no_download)
    got = build.build_test_guest(tmp_path)
    assert got == build.GuestArtifacts(target / "vmlinuz", target / "initrd.img", target / "disk.raw",
                                       "6.1.0-56-amd64")


def test_incomplete_cache_is_not_trusted(tmp_path: Path):
    target = _fake_cache(tmp_path)
    (target / build.RAMDISK_FILE).unlink()
    assert build._load(target) is None


def test_glance_specs_link_kernel_and_ramdisk_by_name(tmp_path: Path):
    art = build.GuestArtifacts(tmp_path / "k", tmp_path / "r", tmp_path / "d", "6.1.0-56-amd64")
    kernel, ramdisk, disk = glance.image_specs(art)
    assert (kernel.disk_format, kernel.container_format) == ("aki", "aki")
    assert (ramdisk.disk_format, ramdisk.container_format) == ("ari", "ari")
    assert disk.refs == {"kernel_id": kernel.name, "ramdisk_id": ramdisk.name}
    assert disk.properties["os_command_line"] == "console=ttyS0"
