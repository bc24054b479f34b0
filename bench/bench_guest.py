"""Figures for berth's test guest: cold and cached build time, artifact sizes, qemu (TCG) start -> marker.

Run: .venv/bin/python bench/bench_guest.py [--boots N]
The cold build downloads the kernel and busybox packages from the host's Debian mirror into a fresh cache.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from berth.guest import build_test_guest, qemu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boots", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="berth-bench-guest-") as tmp:
        cache = Path(tmp)
        start = time.monotonic()
        art = build_test_guest(cache)
        cold = time.monotonic() - start
        start = time.monotonic()
        build_test_guest(cache)
        cached = time.monotonic() - start
        print(f"build cold:   {cold:6.2f} s  (apt-get download + dpkg-deb -x + initramfs)")
        print(f"build cached: {cached:6.2f} s")
        for label, path in (("kernel", art.kernel), ("ramdisk", art.ramdisk), ("disk", art.disk)):
            print(f"{label + ' size:':13s} {path.stat().st_size / 1024:8.0f} KiB  {path.name}")
        print(f"kernel:       {art.kernel_version}")
        if qemu.qemu_binary() is None:
            print("boot:         skipped (qemu-system-x86_64 not installed)")
            return
        times = []
        for _ in range(args.boots):
            vm_id = str(uuid.uuid4())
            result = qemu.boot(art, append="console=ttyS0", net=qemu.netdev(vm_id))
            if result.instance_id != vm_id:
                raise SystemExit(f"boot failed:\n{result.console[-2000:]}")
            times.append(result.seconds)
        runs = ", ".join(f"{t:.1f}" for t in times)
        print(f"boot (tcg):   {statistics.median(times):6.2f} s median qemu start -> marker and id ({runs})")


if __name__ == "__main__":
    main()
