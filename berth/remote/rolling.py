"""Rolling changes behind the VIP: a control host's servers leave every HAProxy before its containers change and
come back after, one host at a time, so clients of the VIP see no failed request (docs/ha.md).

Which servers: for each load-balanced frontend (wiring.loadbalancer) of a service whose containers on the host
are replaced, restarted or stopped by its plan, `<frontend>/<host>`. A container the plan only creates serves
nothing yet, so a first deploy drains nothing. Each control host's HAProxy balances on its own, so `berth
loadbalancer drain|ready` runs on every HAProxy host (a host that cannot be reached holds no VIP and is skipped).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from berth.config.globals import is_enabled, option
from berth.config.loader import Config
from berth.lifecycle import wiring
from berth.plan.hostplan import HostPlan
from berth.plan.model import Action
from berth.remote import targets
from berth.state.model import load_service

# what takes a running server away from its clients (CREATE and START bring one, NOOP leaves it)
REPLACING = {Action.RECREATE, Action.RESTART, Action.SWAP, Action.FINISH, Action.STOP, Action.REMOVE}
DRAIN_WAIT_S = 20.0  # for the requests on a drained server to finish
READY_WAIT_S = 60.0  # for a returned server to pass its health checks, before the next host is drained
Runner = Callable[[Mapping[str, str]], Mapping[str, Any]]  # host -> berth arguments; host -> result (.ok)


def balancer_hosts(config: Config) -> list[str]:
    """The hosts running HAProxy (none when it is disabled)."""
    if not is_enabled(config.globals, "haproxy"):
        return []
    service = load_service("haproxy")
    return wiring.container_hosts(config, service, "haproxy")


def servers_to_drain(config: Config, host: str, plan: HostPlan) -> list[str]:
    """`<frontend>/<host>` of every load-balanced port whose service the plan takes away from its clients."""
    if not balancer_hosts(config):
        return []
    touched = {c.service for c in plan.plan.changes if c.action in REPLACING}
    return [f"{fe['name']}/{host}" for fe in wiring.loadbalancer(config)
            if fe["service"] in touched and any(b["name"] == host for b in fe["backends"])]


def batches(hosts: Sequence[str], drains: Mapping[str, list[str]], serial: int | None) -> list[list[str]]:
    """Hosts whose servers are drained go one at a time (two drained at once could leave a frontend with no
    server); the others in batches of `serial` as usual, after them."""
    alone = [[h] for h in hosts if drains.get(h)]
    rest = [h for h in hosts if not drains.get(h)]
    return alone + (targets.batches(rest, serial) if rest else [])


def arguments(config: Config, state: str, servers: Sequence[str]) -> str:
    """`loadbalancer drain|ready` with this deployment's runtime API port, as one command line."""
    port = int(option(config.globals, "haproxy_admin_port"))
    words = ["--json", "loadbalancer", state, "--port", str(port)]
    words += ["--wait", str(DRAIN_WAIT_S if state == "drain" else READY_WAIT_S)]
    return " ".join(shlex.quote(w) for w in [*words, *servers])


def set_state(config: Config, run_on: Runner, state: str, servers: Sequence[str],
              reachable: Callable[[str], bool]) -> list[str]:
    """Run `loadbalancer <state>` on every HAProxy host that is not known to be down; returns the hosts where it
    failed (their HAProxy keeps checking the servers itself)."""
    hosts = [h for h in balancer_hosts(config) if reachable(h)]
    if not hosts or not servers:
        return []
    results = run_on({h: arguments(config, state, servers) for h in hosts})
    return [h for h in hosts if not getattr(results.get(h), "ok", False)]
