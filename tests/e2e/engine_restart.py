"""A lab host's Docker engine stopped and started again, as at a host reboot, with what the cloud must show.

Called by the 3-host end-to-end module and by bench/bench_engine_restart.py with their own cloud: an `openstack`
runner that returns the completed process (the real CLI, admin credentials) and a liveness probe of a test guest
(`alive`: ICMP from the demo router's namespace). Stopping the engine stops every container of the host at once
(a compute's qemu processes end with its libvirt container); started again, the engine's restart policy starts the
containers, and Nova (`resume_guests_state_on_host_boot`) starts the guests that were running.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from berth.remote.labplan import LabHost
from tests.labs import start_engine, stop_engine
from tests.sandbox import wait_for

Client = Callable[..., subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class Restart:
    """Seconds of one engine restart: stopping it, then from its start to the engine answering, to every API
    answering, to the server ACTIVE and answering ping."""

    host: str
    stop: float
    engine: float
    cloud: float
    server: float

    def line(self) -> str:
        return (f"{self.host}: engine stopped in {self.stop:.1f}s; from its start: engine {self.engine:.1f}s, "
                f"cloud answering {self.cloud:.1f}s, server back {self.server:.1f}s")


def answers(client: Client, server: str) -> bool:
    """Keystone, Nova (and through it the database and the message queue), Neutron and Glance all answer."""
    for argv in (("token", "issue"), ("server", "show", server), ("network", "list"), ("image", "list")):
        try:
            if client(*argv, "-f", "json", timeout=60).returncode != 0:
                return False
        except subprocess.TimeoutExpired:
            return False
    return True


def server_back(client: Client, server: str, alive: Callable[[], bool]) -> bool:
    try:
        done = client("server", "show", server, "-f", "json", timeout=60)
    except subprocess.TimeoutExpired:
        return False
    shown: dict[str, Any] = json.loads(done.stdout) if done.returncode == 0 else {}
    assert shown.get("status") != "ERROR", shown.get("fault")
    return shown.get("status") == "ACTIVE" and shown.get("OS-EXT-STS:power_state") in (1, "Running") and alive()


def restart(host: LabHost, client: Client, server: str, alive: Callable[[], bool], timeout: float = 900) -> Restart:
    """Stop and start `host`'s engine; wait for the cloud and the server; the seconds each took."""
    started = time.monotonic()
    stop_engine(host)
    stopped = time.monotonic()
    start_engine(host)
    engine = time.monotonic()
    wait_for(f"every API answering after {host.name}'s engine restart", timeout, lambda: answers(client, server), 2.0)
    cloud = time.monotonic()
    wait_for(f"server {server} ACTIVE and answering after {host.name}'s engine restart", timeout,
             lambda: server_back(client, server, alive), 2.0)
    back = time.monotonic()
    return Restart(host.name, stopped - started, engine - stopped, cloud - stopped, back - stopped)
