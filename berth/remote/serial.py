"""Containers changed one host at a time across every host, before the rest of the hosts' plans (pure).

A container flagged `serial_across_hosts` in its service.yml (Ceph's `ceph_mon`, `ceph_mgr`, `ceph_osd`) is
part of one cluster spread over hosts: two of its monitors restarted at once can lose the quorum, and Ceph asks
for every monitor to be upgraded before any manager, and every manager before any OSD. Host waves cannot give
that (a wave applies each host's whole plan, every daemon of the host in turn), so over many hosts:

1. the **phases**: for each flagged container, in service order, every host whose plan takes that container away
   (recreate, restart, swap, finish) applies a plan holding that one change only (`only`), one host at a time in
   wave order; the container's health check (a monitor back in the quorum, an OSD marked up) passes before the
   next host is touched, and a failure stops every later phase;
2. then the hosts are planned again from what they now run (the flagged containers are done: no-ops) and the
   waves apply the rest as usual (the service's `after` steps, history records, everything else).

A first deploy creates containers: nothing is taken away, so nothing is phased. Deploy, reconfigure and upgrade
are phased (`OPERATIONS`); a rollback over many hosts still goes host by host (wave order, `--serial`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from berth.plan.hostplan import HostPlan
from berth.plan.model import Action, ContainerChange
from berth.state.model import deployable_services, load_service

OPERATIONS = frozenset({"deploy", "reconfigure", "upgrade"})
SERIAL_ACTIONS = frozenset({Action.RECREATE, Action.RESTART, Action.SWAP, Action.FINISH})
Flags = Mapping[str, Sequence[str]]  # service -> its flagged container keys, in the service's container order


@dataclass(frozen=True)
class Phase:
    service: str
    key: str  # the container key
    hosts: tuple[str, ...]  # applied one at a time, in this order


def flags_of(services: Sequence[str]) -> dict[str, list[str]]:
    """The flagged containers of these services (from their service.yml), in container order."""
    out: dict[str, list[str]] = {}
    known = set(deployable_services())  # a leftover of a service that no longer exists has nothing flagged
    for name in services:
        if name not in known:
            continue
        keys = [key for key, spec in load_service(name).containers.items() if spec.serial_across_hosts]
        if keys:
            out[name] = keys
    return out


def services_of(plans: Mapping[str, HostPlan]) -> list[str]:
    """Every service the plans name, in the order of the first plan naming it (the plans' service order)."""
    names: dict[str, None] = {}
    for plan in plans.values():
        names.update(dict.fromkeys(plan.plan.services))
        names.update(dict.fromkeys(c.service for c in plan.plan.changes))
    return list(names)


def serial_change(plan: HostPlan, key: str) -> ContainerChange | None:
    """The plan's change of `key` when it takes a running container away, else None."""
    return next((c for c in plan.plan.changes if c.key == key and c.action in SERIAL_ACTIONS), None)


def phases(hosts: Sequence[str], plans: Mapping[str, HostPlan], flags: Flags) -> list[Phase]:
    """For each flagged container (services in the plans' order, containers in service order) the hosts, in the
    order given (wave order), whose plan takes it away; containers no plan touches have no phase."""
    out = []
    for service in services_of(plans):
        for key in flags.get(service, ()):
            touched = tuple(h for h in hosts if h in plans and serial_change(plans[h], key) is not None)
            if touched:
                out.append(Phase(service, key, touched))
    return out


def only(plan: HostPlan, key: str) -> HostPlan:
    """The host's plan reduced to its change of `key`: every other container a no-op, no host object but the
    images to fetch (the executor fetches them before any change), and no step but an upgrade's `backup` of the
    container's service: it opens the service's pending history entry (the restore point, the running containers
    as the baseline) before the first swap, so the host planned again after its part is an upgrade to finish
    (the rest of its steps and its history record run with the rest of the plan)."""
    change = serial_change(plan, key)
    service = change.service if change else ""
    changes = tuple(c if c is change else dataclasses.replace(c, action=Action.NOOP) for c in plan.plan.changes)
    steps = tuple(s if s.run and s.kind == "backup" and s.service == service else dataclasses.replace(s, run=False)
                  for s in plan.plan.steps)
    objects = tuple(o for o in plan.plan.objects if o.action in ("pull", "build"))
    return dataclasses.replace(plan, plan=dataclasses.replace(plan.plan, changes=changes, steps=steps,
                                                              objects=objects))
