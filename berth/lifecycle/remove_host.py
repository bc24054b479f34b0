"""`berth remove-host HOST`: take a host out of the cloud before it leaves the inventory.

Order matters, and each step is safe to run again:
1. refuse while servers run on the host, unless asked to migrate them away (cold migration, confirmed);
2. disable its nova-compute service, so nothing new is scheduled there;
3. remove its containers, volumes and host objects (the host's part of `destroy`, over Ansible);
4. delete its nova-compute service (Nova then drops the host's compute node, resource provider and cell mapping)
   and its network agents: only once the containers are gone, or the agents would register again at their next
   report.
The operator then deletes the host from the inventory (berth does not edit it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from berth.errors import BerthError

Progress = Callable[[str], None]


@dataclass(frozen=True)
class HostInCloud:
    """What the cloud knows of one host: its nova services, network agents and the servers placed on it."""

    host: str
    services: tuple[Any, ...]
    agents: tuple[Any, ...]
    servers: tuple[Any, ...]

    def describe(self) -> list[str]:
        return ([f"nova service {s.binary} ({s.status}, {s.state})" for s in self.services]
                + [f"network agent {a.agent_type} ({'alive' if a.is_alive else 'dead'})" for a in self.agents]
                + [f"server {s.name} ({s.id}, {s.status})" for s in self.servers])


def find(conn: Any, host: str) -> HostInCloud:
    """The host's nova services, network agents and servers (of every project), as the APIs report them."""
    services = tuple(s for s in conn.compute.services() if s.host == host)
    agents = tuple(conn.network.agents(host=host))
    # the API filters by compute host (admin); the host is checked again here, so that a filter the API ignored
    # can never make a host look empty
    servers = tuple(s for s in conn.compute.servers(all_projects=True, compute_host=host)
                    if getattr(s, "compute_host", None) == host)
    return HostInCloud(host, services, agents, servers)


def check(found: HostInCloud, migrate: bool) -> None:
    """Refuse to remove a host that still runs servers, unless they are to be migrated away first."""
    if found.servers and not migrate:
        names = ", ".join(f"{s.name} ({s.id})" for s in found.servers)
        raise BerthError(f"{len(found.servers)} server(s) still run on {found.host}: {names}",
                         f"migrate them away first (`berth remove-host {found.host} --migrate` cold-migrates each "
                         "to another compute), or delete them; nothing was changed")


def disable_compute(conn: Any, found: HostInCloud, progress: Progress) -> None:
    """Stop the scheduler from placing anything new on the host (its servers can still be moved away)."""
    for service in found.services:
        if service.binary == "nova-compute" and service.status != "disabled":
            conn.compute.disable_service(service, service.host, service.binary,
                                         disabled_reason="berth remove-host")
            progress(f"disabled nova-compute on {found.host}")


def migrate_away(conn: Any, found: HostInCloud, progress: Progress, timeout: float = 600) -> None:
    """Cold-migrate every server off the host and confirm it, one at a time (the scheduler picks the target)."""
    for server in found.servers:
        progress(f"migrating {server.name} ({server.id}) away from {found.host}")
        conn.compute.migrate_server(server)
        moved = _wait(conn, server.id, "VERIFY_RESIZE", timeout)
        conn.compute.confirm_server_resize(moved)
        done = _wait(conn, server.id, _status_before(server), timeout)
        target = getattr(done, "compute_host", None) or getattr(done, "hypervisor_hostname", None)
        if target == found.host:
            raise BerthError(f"{server.name} is still on {found.host} after its migration",
                             "check that another compute host is enabled and has room; then run it again")
        progress(f"{server.name} now runs on {target}")


def _status_before(server: Any) -> str:
    return "SHUTOFF" if server.status == "SHUTOFF" else "ACTIVE"


def _wait(conn: Any, server_id: str, status: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        server = conn.compute.get_server(server_id)
        if server.status == status:
            return server
        if server.status == "ERROR":
            fault = (server.fault or {}).get("message", "no fault recorded")
            raise BerthError(f"server {server.name} ({server_id}) went to ERROR while migrating: {fault}",
                             "see `berth logs <host>/nova_compute` on the source and target hosts")
        if time.monotonic() >= deadline:
            raise BerthError(f"server {server.name} ({server_id}) is {server.status}, not {status}, after "
                             f"{timeout:.0f}s", "see `berth logs <host>/nova_compute`; run it again once it settles")
        time.sleep(2)


def forget(conn: Any, host: str, progress: Progress) -> list[str]:
    """Delete the host's nova services and network agents (found again: a re-run finds what is left)."""
    found = find(conn, host)
    done = []
    for service in found.services:
        conn.compute.delete_service(service)
        done.append(f"deleted nova service {service.binary} of {host}")
    for agent in found.agents:
        conn.network.delete_agent(agent)
        done.append(f"deleted network agent {agent.agent_type} of {host}")
    for line in done:
        progress(line)
    return done
