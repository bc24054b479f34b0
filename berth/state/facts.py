"""What planners read from one host besides its containers (and stamps and pins): history, every image id, the deployment's
networks, the host objects services leave (interfaces, namespaces, firewall rules) and whether its state directory
exists.

`HostFacts` is observed on the host (in-process for the all-in-one, `berth observe --json --facts` on each host of
an inventory) and read by the same pure planners either way: stop, destroy, upgrade and rollback decide from it
instead of asking an engine, so one planner serves one host and a thousand.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from berth.config.loader import DATA_DIR
from berth.engine import labels
from berth.engine.base import Engine
from berth.frozen import frozen
from berth.state.actual import ActualState
from berth.state.history import Entry, History
from berth.state.observe import observe


@dataclass(frozen=True)
class HostNet:
    """The host objects a service's `teardown:` may name, as they are on the host now."""

    links: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()  # `iptables -S` lines of the filter table ("-A CHAIN ...")
    # namespaces in which a process of a container outside this deployment runs (another deployment's dnsmasq or
    # metadata proxy): never this deployment's to remove, whatever their prefix
    in_use_elsewhere: tuple[str, ...] = ()
    legacy_chains: tuple[str, ...] = ()  # chain names of the legacy iptables tables (every table)

    def has_rule(self, spec: str) -> bool:
        """Whether the rule `CHAIN args...` (as service.yml writes it) is in the filter table."""
        return f"-A {' '.join(spec.split())}" in {" ".join(r.split()) for r in self.rules}


@dataclass(frozen=True)
class HostFacts:
    actual: ActualState
    history: tuple[Entry, ...] = ()
    image_ids: frozenset[str] = frozenset()  # every image on the engine, tagged or not (rollback targets)
    networks: Mapping[str, str] = field(default_factory=frozen)  # the deployment's networks: name -> id
    net: HostNet = field(default_factory=HostNet)
    state_dir: bool = False  # the deployment's state directory exists on the host
    data_dir: bool = False  # its data/ (service data on host directories, e.g. object storage devices) exists

    def without_files(self) -> HostFacts:
        """Without the config files containers and history entries hold (they carry secrets the host cannot
        mask): what `berth observe` prints unless the deployment host's own transport asks for them."""
        actual = replace(self.actual, containers=tuple(replace(c, files={}) for c in self.actual.containers))
        history = tuple(replace(e, containers=tuple(replace(r, files={}) for r in e.containers))
                        for e in self.history)
        return replace(self, actual=actual, history=history)


def observe_facts(engine: Engine, deployment: str, deployment_dir: Path) -> HostFacts:
    """This host's facts: the observed ActualState plus history, pins, images, networks and host objects."""
    actual = observe(engine, deployment, deployment_dir)
    networks = {n.name: n.id for n in engine.networks({labels.DEPLOYMENT: deployment})}
    return HostFacts(actual=actual, history=tuple(History(deployment_dir).entries()),
                     image_ids=frozenset(i.id for i in engine.images()), networks=networks,
                     net=host_net({c.id for c in engine.containers({labels.DEPLOYMENT: deployment})}),
                     state_dir=deployment_dir.is_dir(), data_dir=(deployment_dir / DATA_DIR).is_dir())


def host_net(ours: set[str] | None = None) -> HostNet:
    """Interfaces, network namespaces and filter rules of this host (empty where the tool is missing).

    `ours`: ids of the deployment's containers; a namespace with a process of any other container is then
    `in_use_elsewhere` (None: not judged, e.g. `cleanup host` of services that no longer run)."""
    from berth.lifecycle import teardown

    namespaces = tuple(teardown.namespaces())
    elsewhere = () if ours is None else tuple(n for n in namespaces if teardown.namespace_containers(n) - ours)
    return HostNet(tuple(teardown.links()), namespaces, tuple(_rules()), elsewhere, tuple(teardown.legacy_chains()))


def _rules() -> list[str]:
    if not shutil.which("iptables"):
        return []
    proc = subprocess.run(["iptables", "-S"], check=False, capture_output=True, text=True, timeout=30)
    return [line for line in proc.stdout.splitlines() if line.startswith("-A ")]
