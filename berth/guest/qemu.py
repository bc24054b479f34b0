"""Boot the test guest directly under qemu and read its console: the proof that the artifacts work.

Used by the integration tests and the benchmark, and usable for a "does a guest really boot with KVM?" test
(`accel="kvm"`), since an openable /dev/kvm can still hang guests. The user-mode network is always
`restrict=on`: the guest reaches only qemu's own DHCP server and, optionally, a metadata stub that qemu runs
as a subprocess; nothing leaves the qemu process.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

from berth.errors import BuildError
from berth.guest.build import GuestArtifacts

MARKER = "BERTH-TEST-GUEST-OK"
ID_LINE = re.compile(r"^BERTH-INSTANCE-ID (\S+)\r?\n", re.MULTILINE)  # whole line only
IP_LINE = re.compile(r"^BERTH-IP (\S+)\r?\n", re.MULTILINE)
# what the guest says about a disk beyond its root disk: `BERTH-DISK vdb wrote|found <token>`, `... gone`
DISK_LINE = re.compile(r"^BERTH-DISK (\S+) (wrote|found|gone|write-failed) ?(\S*)\r?\n", re.MULTILINE)
# With a metadata stub the slirp network is moved to 169.254.169.0/24, because qemu forwards guest
# connections only to addresses inside its own network and the guest asks 169.254.169.254.
METADATA_NET = "net=169.254.169.0/24,host=169.254.169.2,dhcpstart=169.254.169.15"


@dataclass(frozen=True)
class BootResult:
    console: str
    seconds: float  # qemu start -> instance-id line (or the timeout)

    @property
    def ok(self) -> bool:
        return MARKER in self.console and self.instance_id is not None

    @property
    def ip(self) -> str | None:
        m = IP_LINE.search(self.console)
        return m.group(1) if m else None

    @property
    def instance_id(self) -> str | None:
        m = ID_LINE.search(self.console)
        return m.group(1) if m else None


def qemu_binary() -> str | None:
    return shutil.which("qemu-system-x86_64")


def netdev(metadata_uuid: str | None = None, ec2_only: bool = False) -> str:
    spec = "user,id=n0,restrict=on"
    if metadata_uuid is None:
        return spec
    stub = f"{sys.executable} -m berth.guest.metadata_stub {metadata_uuid}" + (" ec2" if ec2_only else "")
    return f"{spec},{METADATA_NET},guestfwd=tcp:169.254.169.254:80-cmd:{stub}"


def command(art: GuestArtifacts, append: str, net: str, accel: str = "tcg",
            disks: tuple[str, ...] = ()) -> list[str]:
    """qemu's command line; `disks` are raw files attached as further virtio disks (vdb, vdc, ...)."""
    binary = qemu_binary()
    if binary is None:
        raise BuildError("qemu-system-x86_64 is not installed",
                         "apt-get install --no-install-recommends qemu-system-x86")
    return [binary, "-accel", accel, "-nographic", "-no-reboot", "-m", "256", "-kernel", str(art.kernel),
            "-initrd", str(art.ramdisk), "-append", append, "-netdev", net,
            "-device", "virtio-net-pci,netdev=n0", "-drive", f"file={art.disk},format=raw,if=virtio,readonly=on",
            *[arg for disk in disks for arg in ("-drive", f"file={disk},format=raw,if=virtio")]]


def boot(art: GuestArtifacts, *, append: str = "console=ttyS0", net: str | None = None,
         accel: str = "tcg", timeout: float = 60.0, disks: tuple[str, ...] = (),
         until: re.Pattern[str] = ID_LINE) -> BootResult:
    """Run qemu until the guest prints a line matching `until` (default: its instance-id line) or the timeout,
    then stop it; never leaves it running."""
    start = time.monotonic()
    proc = subprocess.Popen(command(art, append, net or netdev(), accel, disks), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    console = bytearray()
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while (left := timeout - (time.monotonic() - start)) > 0:
                if not sel.select(left):
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                console += chunk
                if until.search(console.decode(errors="replace")):
                    break
        seconds = time.monotonic() - start
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    return BootResult(console.decode(errors="replace").replace("\r\n", "\n"), seconds)
