"""A soak of a running cloud: networks, ports and servers made and deleted in a loop, then what was left behind.

One cycle: a network and subnet, a port on it, a server booted on that port (ACTIVE, and the port ACTIVE: the L2
agent wired it), the server deleted, the port, subnet and network deleted, and on the host the network's DHCP
namespace and the port's devices (tap, and the hybrid plug's qbr/qvo/qvb) gone. A failed cycle is recorded with
its reason and cleaned up; the loop goes on. At the end: every Neutron agent alive (an agent that wedges, e.g. the
ebtables-nft hazard of ENVIRONMENT.md, fails the next cycles' port wiring and shows here), no port more than at the
start, and each container's memory growth.

Shared by `bench/bench_soak.py` (the full run, default 30 min) and the e2e package's short run in CI.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from berth.guest.glance import DISK_IMAGE
from berth.lifecycle.init_runonce import TEST_FLAVOR

PREFIX = "soak"
_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "kB": 1e3, "MB": 1e6, "GB": 1e9}


@dataclass
class SoakReport:
    cycles: list[float] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    agents_down: list[str] = field(default_factory=list)
    ports_before: int = 0
    ports_after: int = 0
    memory_before: dict[str, float] = field(default_factory=dict)  # container -> MiB
    memory_after: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.failures or self.leaked or self.agents_down) and self.ports_after <= self.ports_before

    def growth(self) -> list[tuple[str, float]]:
        """Containers by memory growth (MiB), largest first."""
        both = set(self.memory_before) & set(self.memory_after)
        return sorted(((n, self.memory_after[n] - self.memory_before[n]) for n in both), key=lambda x: -x[1])

    def summary(self) -> list[str]:
        done = len(self.cycles) + len(self.failures)
        lines = [f"cycles: {done}, failed: {len(self.failures)}"]
        if self.cycles:
            lines.append(f"cycle time: median {statistics.median(self.cycles):.1f}s, slowest {max(self.cycles):.1f}s")
        lines += [f"failed cycle {n}: {why}" for n, why in self.failures[:10]]
        lines.append(f"ports: {self.ports_before} before, {self.ports_after} after")
        lines += [f"left behind: {x}" for x in self.leaked[:20]]
        lines += [f"agent not alive: {x}" for x in self.agents_down]
        top = self.growth()[:5]
        if top:
            lines.append("memory growth (MiB): " + ", ".join(f"{n} {g:+.0f}" for n, g in top))
        return lines

    def data(self) -> dict[str, Any]:
        return {"cycles": len(self.cycles) + len(self.failures), "failed": len(self.failures),
                "median_s": statistics.median(self.cycles) if self.cycles else None,
                "slowest_s": max(self.cycles) if self.cycles else None, "failures": self.failures,
                "leaked": self.leaked, "agents_down": self.agents_down, "ports_before": self.ports_before,
                "ports_after": self.ports_after, "memory_growth_mib": dict(self.growth())}


def memory(deployment: str) -> dict[str, float]:
    """MiB in use by each container of the deployment (the engine's own figure, one call for all)."""
    out = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"],
                         capture_output=True, text=True, timeout=120, check=False).stdout
    found = {}
    for line in out.splitlines():
        name, _, usage = line.partition(" ")
        match = re.match(r"([\d.]+)([A-Za-z]+)", usage.strip())
        if name.startswith(f"{deployment}-") and match and match[2] in _UNITS:
            found[name] = float(match[1]) * _UNITS[match[2]] / 2**20
    return found


def leftovers(network_id: str, port_id: str) -> list[str]:
    """The host objects of a deleted network and port that still exist."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    names = {line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if line.count(":") >= 2}
    left = [f"netns qdhcp-{network_id}"] if f"qdhcp-{network_id}" in netns else []
    return left + [f"link {p}{port_id[:11]}" for p in ("tap", "qbr", "qvo", "qvb") if f"{p}{port_id[:11]}" in names]


def wait(what: str, probe: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)


def run_soak(conn: Any, deployment: str, seconds: float = 1800, max_cycles: int | None = None,
             progress: Callable[[str], None] = print) -> SoakReport:
    """Cycles until `seconds` have passed (or `max_cycles` are done); the report of the whole run."""
    report = SoakReport(ports_before=len(list(conn.network.ports())), memory_before=memory(deployment))
    image = conn.image.find_image(DISK_IMAGE, ignore_missing=False)
    flavor = conn.compute.find_flavor(TEST_FLAVOR, ignore_missing=False)
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end and (max_cycles is None or n < max_cycles):
        n += 1
        start = time.monotonic()
        try:
            _cycle(conn, n, image.id, flavor.id, report)
            report.cycles.append(time.monotonic() - start)
            progress(f"cycle {n}: {report.cycles[-1]:.1f}s")
        except Exception as exc:  # noqa: BLE001 - a failed cycle is a result; the soak goes on
            report.failures.append((n, f"{type(exc).__name__}: {exc}"[:300]))
            progress(f"cycle {n}: FAILED {report.failures[-1][1]}")
            _clean(conn, n)
    report.agents_down = [f"{a.agent_type} on {a.host}" for a in conn.network.agents() if not a.is_alive]
    report.ports_after = len(list(conn.network.ports()))
    report.memory_after = memory(deployment)
    return report


def _cycle(conn: Any, n: int, image_id: str, flavor_id: str, report: SoakReport) -> None:
    name = f"{PREFIX}-{n}"
    net = conn.network.create_network(name=name)
    conn.network.create_subnet(network_id=net.id, name=name, ip_version=4, cidr=f"10.251.{n % 250}.0/24")
    port = conn.network.create_port(network_id=net.id, name=name)
    server = conn.compute.create_server(name=name, image_id=image_id, flavor_id=flavor_id,
                                        networks=[{"port": port.id}])
    conn.compute.wait_for_server(server, status="ACTIVE", wait=300)
    wait(f"port of {name} ACTIVE", lambda: conn.network.get_port(port.id).status == "ACTIVE", 120)
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=120)
    conn.network.delete_port(port)
    conn.network.delete_network(net)  # its subnet with it
    try:
        wait(f"host objects of {name} removed", lambda: not leftovers(net.id, port.id), 60)
    except TimeoutError:
        report.leaked += [f"{x} (cycle {n})" for x in leftovers(net.id, port.id)]


def _clean(conn: Any, n: int) -> None:
    """A failed cycle's server, port and network, whatever exists of them."""
    name = f"{PREFIX}-{n}"
    try:
        for server in conn.compute.servers(name=f"^{name}$"):
            conn.compute.delete_server(server)
            conn.compute.wait_for_delete(server, wait=120)
        for port in conn.network.ports(name=name):
            conn.network.delete_port(port)
        for net in conn.network.networks(name=name):
            conn.network.delete_network(net)
    except Exception as exc:  # noqa: BLE001 - reported; the next cycle goes on
        print(f"cleaning cycle {n} failed: {exc}")
