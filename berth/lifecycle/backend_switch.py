"""A release change that changes Neutron's backend: Zed's ML2/linuxbridge <-> Epoxy's ML2/OVS.

Neutron 2025.1 no longer has the linuxbridge driver or agent, so no upgrade can keep it: the nearest real path is
to switch the backend during the release upgrade (and back during the rollback). The databases move with the
usual steps; what this module does is what is *on the host* and *in the bindings*, after the containers swapped:

1. the L3 and DHCP agents are stopped, and the previous backend's devices are removed with their namespaces
   (a namespace whose ports the old interface driver made would be kept, unplugged, by the new agents);
2. the agents start again and rebuild every router and DHCP namespace with the new interface driver;
3. each server's ports are bound again (host cleared, then set back: ML2 binds them with the driver whose agent
   now runs there) and each running server is rebooted hard, so Nova plugs its interfaces the new way.

Running servers therefore keep their disks, addresses and floating IPs but restart once (docs/upgrade.md).
All-in-one only: over many hosts each network and compute host would need steps 1-2 (not built yet).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from berth.config.loader import Config
from berth.engine.base import Engine
from berth.lifecycle import teardown
from berth.lifecycle.render import container_name
from berth.state.model import load_service

Progress = Callable[[str], None]
AGENTS = ("neutron_l3_agent", "neutron_dhcp_agent")  # the agents that plug ports into namespaces
L2_AGENT_TYPES = {"neutron_linuxbridge_agent": "Linux bridge agent", "neutron_openvswitch_agent": "Open vSwitch agent"}


@dataclass
class Rewired:
    removed: list[str] = field(default_factory=list)  # devices, namespaces and agent records of the old backend
    rebound: int = 0
    rebooted: list[str] = field(default_factory=list)


def switches(source: Config, target: Config) -> bool:
    """Whether the release change changes Neutron's backend (its L2 agent's container differs)."""
    from berth.config.globals import is_enabled

    if not is_enabled(target.globals, "neutron"):
        return False
    return _l2_agents(source) != _l2_agents(target)


def _l2_agents(config: Config) -> set[str]:
    release = config.globals.openstack_release
    return {key for key, d in load_service("neutron").containers.items()
            if key.endswith("_agent") and key not in AGENTS and "metadata" not in key
            and (d.releases is None or release in d.releases)}


def leftovers(source: Config) -> list[teardown.HostObject]:
    """The previous backend's links and the agents' namespaces on this host (the provider interface stays)."""
    keep = {str(getattr(source.globals, "neutron_external_interface", ""))}
    return [o for o in teardown.find(source, load_service("neutron"))
            if o.kind in ("link", "links", "netns", "chains", "vifs") and o.name not in keep]


def rewire(source: Config, target: Config, engine: Engine, progress: Progress) -> Rewired:
    """Steps 1-3 above on this host; `source` is the configuration of the release left behind."""
    done = Rewired()
    agents = [container_name(target.globals.deployment_name, key) for key in AGENTS]
    for name in agents:
        if engine.container(name) is not None:
            progress(f"{name}: stopping (its namespaces are rebuilt)")
            engine.stop(name, 30)
    for obj in leftovers(source):
        done.removed.append(teardown.remove(obj))
    for name in agents:
        if engine.container(name) is not None:
            engine.start(name)
            progress(f"{name}: started")
    rebind_and_reboot(target, done, progress, _l2_types(source) - _l2_types(target))
    return done


def _l2_types(config: Config) -> set[str]:
    return {L2_AGENT_TYPES[key] for key in _l2_agents(config) if key in L2_AGENT_TYPES}


def rebind_and_reboot(config: Config, done: Rewired, progress: Progress, gone_types: frozenset[str] | set[str] = frozenset(),
                      timeout: float = 600) -> None:
    """Steps 3 (and the previous backend's agent records, which would stay dead in `network agent list`)."""
    from berth.lifecycle.init_runonce import connect_cloud

    conn = connect_cloud(config)
    for agent in list(conn.network.agents()):
        if agent.agent_type in gone_types:
            conn.network.delete_agent(agent)
            done.removed.append(f"network agent {agent.agent_type} on {agent.host}")
    servers = list(conn.compute.servers(all_projects=True))
    for server in servers:
        host = getattr(server, "compute_host", None) or getattr(server, "hypervisor_hostname", None)
        for port in conn.network.ports(device_id=server.id):
            if host:
                conn.network.update_port(port, binding_host_id="")
                conn.network.update_port(port, binding_host_id=host)
                done.rebound += 1
    for server in servers:
        if server.status == "ACTIVE":
            progress(f"server {server.name}: hard reboot (its interfaces are plugged the new way)")
            conn.compute.reboot_server(server, "HARD")
            done.rebooted.append(server.name)
    deadline = time.monotonic() + timeout
    for name in done.rebooted:
        _wait_active(conn, next(s.id for s in servers if s.name == name), deadline)


def _wait_active(conn: Any, server_id: str, deadline: float) -> None:
    from berth.errors import DeployError

    while time.monotonic() < deadline:
        server = conn.compute.get_server(server_id)
        if server.status == "ACTIVE" and not getattr(server, "task_state", None):
            return
        if server.status == "ERROR":
            raise DeployError(f"server {server.name} went to ERROR on its hard reboot after the backend switch",
                              "see `berth logs nova` (nova_compute); `openstack server reboot --hard` retries")
        time.sleep(2)
    raise DeployError(f"server {server_id} was not ACTIVE again within the timeout after its hard reboot",
                      "see `berth logs nova`; `openstack server reboot --hard` retries")
