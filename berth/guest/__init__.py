"""berth's own test guest: a Debian kernel plus a busybox initramfs, built from Debian packages only.

`berth init-runonce` uploads the artifacts to Glance (see berth.guest.glance and docs/test-guest.md).
"""

from berth.guest.build import GuestArtifacts, build_test_guest

__all__ = ["GuestArtifacts", "build_test_guest"]
