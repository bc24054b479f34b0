"""What berth's test guest says about disks beyond its root disk, read from a server's console log through
openstacksdk: `BERTH-DISK <dev> wrote <token>` on a blank disk, `found <token>` on a disk it marked before,
`gone` when the disk is detached (berth/guest/files/init.sh). Shared by test_storage_cloud.py and
bench/bench_attach.py."""

from __future__ import annotations

import time
from typing import Any

from berth.guest.qemu import DISK_LINE


def console(conn: Any, server_id: str) -> str:
    return str(conn.compute.get_server_console_output(server_id).get("output", "")).replace("\r\n", "\n")


def disk_events(text: str) -> list[tuple[str, str, str]]:
    """(device, what, token) for every BERTH-DISK line, in order."""
    return [(m[1], m[2], m[3]) for m in DISK_LINE.finditer(text)]


def wait_disk_event(conn: Any, server_id: str, seen: int, timeout: float = 180,
                    interval: float = 0.5) -> tuple[tuple[str, str, str], float]:
    """Poll the console until a BERTH-DISK line beyond the first `seen` ones appears: (that line, seconds)."""
    start = time.monotonic()
    events: list[tuple[str, str, str]] = []
    while time.monotonic() - start < timeout:
        events = disk_events(console(conn, server_id))
        if len(events) > seen:
            return events[seen], time.monotonic() - start
        time.sleep(interval)
    raise AssertionError(f"no new BERTH-DISK line on {server_id}'s console within {timeout:.0f}s "
                         f"(lines so far: {events})")


def attach(conn: Any, server_id: str, volume_id: str, timeout: float = 180) -> None:
    """Attach through the compute API, then wait until Cinder says `in-use`."""
    conn.compute.create_volume_attachment(server_id, volume_id)
    volume = conn.block_storage.get_volume(volume_id)
    conn.block_storage.wait_for_status(volume, "in-use", failures=["error", "error_attaching"], interval=0.5,
                                       wait=timeout)


def detach(conn: Any, server_id: str, volume_id: str, timeout: float = 180, interval: float = 0.5) -> None:
    """Detach through the compute API, then wait until Cinder says `available` again and Nova no longer lists the
    attachment (Nova removes its record after telling Cinder: attaching again before that is refused)."""
    conn.compute.delete_volume_attachment(server_id, volume_id)
    volume = conn.block_storage.get_volume(volume_id)
    conn.block_storage.wait_for_status(volume, "available", failures=["error", "error_detaching"],
                                       interval=interval, wait=timeout)
    deadline = time.monotonic() + timeout
    while any(a.volume_id == volume_id for a in conn.compute.volume_attachments(server_id)):
        if time.monotonic() > deadline:
            raise AssertionError(f"Nova still lists volume {volume_id} on {server_id} after {timeout:.0f}s")
        time.sleep(interval)
