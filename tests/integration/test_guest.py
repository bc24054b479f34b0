"""The real test guest: built from the Debian mirror, booted under qemu (TCG), read from its serial console.

qemu's user network runs with restrict=on: the guest gets its DHCP lease from qemu itself and its metadata
from a stub qemu runs per connection, so no packet leaves the qemu process.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from berth.guest import GuestArtifacts, build_test_guest, qemu

pytestmark = pytest.mark.integration


def _ensure_qemu() -> None:
    if qemu.qemu_binary():
        return
    proc = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "qemu-system-x86"],
                          capture_output=True, text=True, check=False,
                          env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    if proc.returncode != 0 or not qemu.qemu_binary():
        pytest.skip(f"qemu-system-x86 is not installable here: {proc.stderr.strip()[-300:]}")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("guest-cache")


@pytest.fixture(scope="module")
def artifacts(cache: Path) -> GuestArtifacts:
    return build_test_guest(cache)


def test_build_produces_bootable_artifacts_and_is_cached(cache: Path, artifacts: GuestArtifacts):
    assert artifacts.kernel.read_bytes()[0x202:0x206] == b"HdrS"  # x86 Linux boot protocol header
    assert artifacts.ramdisk.read_bytes()[:2] == b"\x1f\x8b"
    assert artifacts.disk.stat().st_size == 1024 * 1024
    assert artifacts.kernel_version.endswith("-amd64")
    listing = subprocess.run(f"zcat {artifacts.ramdisk} | cpio -t --quiet", shell=True, check=True,
                             capture_output=True, text=True).stdout.split()
    assert {"init", "bin/busybox", "dev/console", "lib/modules/virtio_net.ko"} <= set(listing)
    start = time.monotonic()
    again = build_test_guest(cache)
    assert again == artifacts and time.monotonic() - start < 2.0


def test_guest_gets_dhcp_address_and_instance_id_from_openstack_metadata(artifacts: GuestArtifacts):
    _ensure_qemu()
    vm_id = str(uuid.uuid4())
    result = qemu.boot(artifacts, append="console=ttyS0 berth.metadata_timeout=20", net=qemu.netdev(vm_id))
    assert qemu.MARKER in result.console, result.console[-3000:]
    assert result.ip == "169.254.169.15"
    assert result.instance_id == vm_id


def test_guest_falls_back_to_ec2_metadata(artifacts: GuestArtifacts):
    _ensure_qemu()
    vm_id = "i-" + uuid.uuid4().hex[:8]
    result = qemu.boot(artifacts, append="console=ttyS0 berth.metadata_timeout=20",
                       net=qemu.netdev(vm_id, ec2_only=True))
    assert result.instance_id == vm_id, result.console[-3000:]


def test_guest_without_metadata_reports_unknown_within_a_minute(artifacts: GuestArtifacts):
    _ensure_qemu()
    result = qemu.boot(artifacts, append="console=ttyS0 berth.metadata_timeout=3", timeout=60)
    assert qemu.MARKER in result.console, result.console[-3000:]
    assert result.ip == "10.0.2.15"
    assert result.instance_id == "unknown"
    assert result.seconds < 60
    leftover = subprocess.run(["pgrep", "-f", str(artifacts.kernel)], check=False,
                              capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "qemu must be stopped once the guest has reported"



def test_guest_marks_a_second_disk_and_finds_the_mark_on_the_next_boot(artifacts: GuestArtifacts, tmp_path: Path):
    """What the cloud test reads after attaching a volume: `wrote <token>` on a blank disk, `found <token>` when
    the same disk comes back (here: the next boot with the same file)."""
    _ensure_qemu()
    disk = tmp_path / "volume.raw"
    disk.write_bytes(bytes(1 << 20))
    first = qemu.boot(artifacts, append="console=ttyS0 berth.metadata_timeout=1", disks=(str(disk),),
                      until=qemu.DISK_LINE, timeout=90)
    found = qemu.DISK_LINE.search(first.console)
    assert found and found.group(1, 2) == ("vdb", "wrote"), first.console[-3000:]
    token = found.group(3)
    assert disk.read_bytes()[:512].startswith(f"BERTH-DISK-MARK {token}\n".encode())
    second = qemu.boot(artifacts, append="console=ttyS0 berth.metadata_timeout=1", disks=(str(disk),),
                       until=qemu.DISK_LINE, timeout=90)
    again = qemu.DISK_LINE.search(second.console)
    assert again and again.group(1, 2, 3) == ("vdb", "found", token), second.console[-3000:]
