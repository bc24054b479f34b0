"""Moving a server between computes of a multi-host berth cloud, cold and live, with what each must show.

Called by the 3-host end-to-end module with its own cloud: an `openstack` runner (the real CLI with admin
credentials) and a liveness probe of the guest (`pinger`: ICMP from the demo router's namespace on the network
host). A cold migration must land on another host, be confirmed, and boot the guest there (its marker on the new
console); a live migration must land on another host with the guest answering on. berth's test guest has
`os_shutdown_timeout=0` (it has nothing to flush), so a cold migration does not wait for a clean shutdown.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

from tests.sandbox import wait_for

MARKER = "BERTH-TEST-GUEST-OK"
LIVE_API = "2.30"  # block_migration=auto (2.25): the instances directory is each host's own volume

Runner = Callable[..., str]


def server_state(openstack: Runner, server: str) -> dict[str, Any]:
    """`openstack server show` as JSON: status, host (OS-EXT-SRV-ATTR:host) and the rest."""
    data: dict[str, Any] = json.loads(openstack("server", "show", "-f", "json", server))
    return data


def host_of(state: dict[str, Any]) -> str:
    """The compute host the server is on (admin view)."""
    return str(state["OS-EXT-SRV-ATTR:host"])


def _settled(openstack: Runner, server: str, statuses: tuple[str, ...]) -> dict[str, Any] | None:
    """The server's state once its status is one of `statuses` and no task runs; ERROR fails at once."""
    state = server_state(openstack, server)
    assert state["status"] != "ERROR", f"{server} went to ERROR: {state.get('fault')}"
    return state if state["status"] in statuses and not state.get("OS-EXT-STS:task_state") else None


def cold_migrate(openstack: Runner, server: str, timeout: float = 600) -> tuple[float, dict[str, Any]]:
    """`server migrate` then `server migrate confirm`: seconds from the call to ACTIVE on the new host."""
    started = time.monotonic()
    openstack("server", "migrate", server)
    wait_for(f"{server} in VERIFY_RESIZE", timeout, lambda: _settled(openstack, server, ("VERIFY_RESIZE",)), 1.0)
    openstack("server", "migration", "confirm", server)
    state = wait_for(f"{server} ACTIVE after confirm", timeout, lambda: _settled(openstack, server, ("ACTIVE",)), 1.0)
    return time.monotonic() - started, state


def live_migrate(openstack: Runner, server: str, timeout: float = 600) -> tuple[float, dict[str, Any]]:
    """`server migrate --live-migration` (block migration chosen by nova): seconds from the call to ACTIVE."""
    before = host_of(server_state(openstack, server))
    started = time.monotonic()
    openstack("--os-compute-api-version", LIVE_API, "server", "migrate", "--live-migration", server)

    def moved() -> dict[str, Any] | None:
        state = _settled(openstack, server, ("ACTIVE",))
        return state if state is not None and host_of(state) != before else None

    state = wait_for(f"{server} ACTIVE on another host than {before}", timeout, moved, 1.0)
    return time.monotonic() - started, state


def last_migration(openstack: Runner, server: str) -> dict[str, Any]:
    """The server's newest migration record (type, status, source and destination)."""
    rows = json.loads(openstack("--os-compute-api-version", "2.59", "server", "migration", "list", "--server",
                                server, "-f", "json"))
    assert rows, f"no migration recorded for {server}"
    return max(rows, key=lambda r: r["Id"])  # type: ignore[no-any-return]


def recorded_seconds(record: dict[str, Any]) -> float:
    """How long nova's migration record says it took: created (the API call) to its last update (done)."""
    def stamp(text: str) -> float:
        return time.mktime(time.strptime(text.split(".")[0], "%Y-%m-%dT%H:%M:%S"))

    return stamp(record["Updated At"]) - stamp(record["Created At"])


def migrate_checks(openstack: Runner, server: str, alive: Callable[[], bool], rounds: int = 1,
                   live: bool = True) -> dict[str, list[float]]:
    """Cold-migrate (and live-migrate) `server` between two computes `rounds` times each; seconds per run.

    `alive()` says whether the guest answers (e.g. ping from its router's namespace). Each cold migration must
    land on another host and boot the guest there (its marker on the new console); each live migration must
    land on another host with the guest running on. Returns wall-clock seconds (the CLI call to ACTIVE, polled
    with the CLI) under "cold"/"live" and nova's own record of each under "cold_recorded"/"live_recorded".
    """
    times: dict[str, list[float]] = {"cold": [], "cold_recorded": [], "live": [], "live_recorded": []}
    for _ in range(rounds):
        before = host_of(server_state(openstack, server))
        seconds, state = cold_migrate(openstack, server)
        record = last_migration(openstack, server)
        assert host_of(state) != before and record["Type"] == "migration", (before, state, record)
        assert record["Status"] == "confirmed", record
        wait_for(f"{server}'s marker on its new console", 180,
                 lambda: MARKER in openstack("console", "log", "show", server))
        wait_for(f"{server} answers after the cold migration", 120, alive)
        times["cold"].append(seconds)
        times["cold_recorded"].append(recorded_seconds(record))
        if live:
            seconds, state = live_migrate(openstack, server)
            record = last_migration(openstack, server)
            assert record["Type"] == "live-migration" and record["Status"] == "completed", record
            wait_for(f"{server} answers after the live migration", 120, alive)
            times["live"].append(seconds)
            times["live_recorded"].append(recorded_seconds(record))
    return times


# One ICMP echo exchange (the agents' images have python3 but no ping); exit 0 when the guest answered.
ICMP_ECHO = """
import socket, struct, sys, time
def checksum(data):
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.settimeout(2)
for seq in range(3):
    head = struct.pack("!BBHHH", 8, 0, 0, 0xBE27, seq) + b"berth-migration!"
    sock.sendto(head[:2] + struct.pack("!H", checksum(head)) + head[4:], (sys.argv[1], 0))
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            reply, (source, _) = sock.recvfrom(1024)
        except socket.timeout:
            break
        icmp = reply[(reply[0] & 0x0F) * 4:]
        if source == sys.argv[1] and icmp[0] == 0 and icmp[4:6] == b"\\xbe\\x27":
            sys.exit(0)
sys.exit(1)
"""


def pinger(openstack: Runner, ip: str, docker: list[str], deployment: str) -> Callable[[], bool]:
    """Whether `ip` answers ping from the demo router's namespace: run in the L3 agent's container through
    `docker` (the network host's engine: the namespace lives in that host's mount namespace)."""
    router = json.loads(openstack("router", "show", "demo-router", "-f", "json"))["id"]
    command = [*docker, "exec", f"{deployment}-neutron_l3_agent", "ip", "netns", "exec",
               f"qrouter-{router}", "python3", "-c", ICMP_ECHO, ip]
    return lambda: subprocess.run(command, capture_output=True, timeout=60, check=False).returncode == 0
