"""How the test guest's artifacts are registered in Glance so Nova's libvirt driver boots them.

Nova copies the images named by the machine image's `kernel_id` / `ramdisk_id` properties into the instance
directory and boots them directly (<kernel>/<initrd>/<cmdline> in the domain XML); `os_command_line` replaces
Nova's default "root=/dev/vda console=tty0 console=ttyS0 console=hvc0", so the guest's lines reach ttyS0,
which is what `openstack console log show` reads. See docs/test-guest.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from berth.guest.build import GuestArtifacts

KERNEL_IMAGE, RAMDISK_IMAGE, DISK_IMAGE = "berth-test-kernel", "berth-test-ramdisk", "berth-test-guest"
COMMAND_LINE = "console=ttyS0"


@dataclass(frozen=True)
class ImageSpec:
    """One Glance image to create; `refs` maps a property name to the name of an image whose id it takes."""

    name: str
    path: Path
    disk_format: str
    container_format: str
    properties: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)


def image_specs(artifacts: GuestArtifacts, prefix: str = "") -> list[ImageSpec]:
    """The three images, in upload order (the machine image refers to the ids of the first two)."""
    kernel, ramdisk, disk = (prefix + n for n in (KERNEL_IMAGE, RAMDISK_IMAGE, DISK_IMAGE))
    tag = {"berth_kernel_version": artifacts.kernel_version}
    return [
        ImageSpec(kernel, artifacts.kernel, "aki", "aki", dict(tag)),
        ImageSpec(ramdisk, artifacts.ramdisk, "ari", "ari", dict(tag)),
        ImageSpec(disk, artifacts.disk, "raw", "bare",
                  # os_shutdown_timeout=0: the guest has nothing to flush and ignores ACPI power-off, so nova
                  # would wait 60 s for a clean shutdown before every stop or cold migration
                  {**tag, "os_command_line": COMMAND_LINE, "hw_disk_bus": "virtio", "hw_vif_model": "virtio",
                   "os_shutdown_timeout": "0"},
                  {"kernel_id": kernel, "ramdisk_id": ramdisk}),
    ]
