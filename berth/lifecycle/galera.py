"""MariaDB as a Galera cluster: when a cluster must be started again, and from which node (pure decisions).

A deployment whose `mariadb` container runs on 2 or more hosts is one Galera cluster (service.yml exports
`mariadb_galera`). Each node decides at its own start whether to join or to start a new cluster (`berth-galera` in
the image, docs/ha.md); that rule never starts a cluster from a node that may be behind. After every node stopped
uncleanly (power cut: grastate.dat says `seqno: -1, safe_to_bootstrap: 0` everywhere) no node may start alone:
`berth mariadb-recovery` (and `berth deploy`, when it finds the cluster down) asks every node for its position,
starts the most advanced one as the new cluster and lets the others join it. The decisions are here, as pure
functions of what the hosts reported, so they are tested without hosts; `berth.remote.galera` asks the hosts and
`berth.lifecycle.galera_node` is the part that runs on each host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from berth.config.loader import Config
from berth.errors import DeployError
from berth.lifecycle.wiring import container_hosts, exports
from berth.state.model import load_service

NO_CLUSTER = "00000000-0000-0000-0000-000000000000"


class GaleraError(DeployError):
    """The cluster cannot be started again safely; the message says why and which host to look at."""


@dataclass(frozen=True)
class NodeStatus:
    """One host's node as `berth galera-node status` reports it."""

    host: str
    container: str | None = None  # its state (running, exited, restarting, ...); None: no container
    volume: bool = False  # the data volume exists (this host held data of the cluster)
    state: str = ""  # wsrep_local_state_comment: Synced, Joiner, Donor/Desynced, ...; "" when not serving
    cluster_status: str = ""  # wsrep_cluster_status: Primary, non-Primary, Disconnected
    cluster_size: int = 0

    @property
    def primary(self) -> bool:
        return self.cluster_status == "Primary"

    @classmethod
    def from_data(cls, host: str, data: Mapping[str, Any]) -> NodeStatus:
        return cls(host, data.get("container"), bool(data.get("volume")), str(data.get("state") or ""),
                   str(data.get("cluster_status") or ""), int(data.get("cluster_size") or 0))


@dataclass(frozen=True)
class Position:
    """Where one node's data stands: `berth-galera position` on its stopped datadir."""

    host: str
    uuid: str = ""
    seqno: int = -1
    safe_to_bootstrap: bool = False
    recovered: bool = False  # seqno came from InnoDB (`mariadbd --wsrep-recover`): grastate.dat said -1
    grastate: bool = False  # the node ever ran in a cluster
    initialised: bool = False  # the datadir holds system tables

    @property
    def has_data(self) -> bool:
        return self.grastate and self.initialised and self.uuid not in ("", NO_CLUSTER) and self.seqno >= 0

    @classmethod
    def from_data(cls, host: str, data: Mapping[str, Any]) -> Position:
        return cls(host, str(data.get("uuid") or ""), int(data.get("seqno", -1)),
                   bool(data.get("safe_to_bootstrap")), bool(data.get("recovered")), bool(data.get("grastate")),
                   bool(data.get("initialised")))

    def describe(self) -> str:
        how = "recovered from InnoDB" if self.recovered else "grastate.dat"
        safe = ", safe_to_bootstrap" if self.safe_to_bootstrap else ""
        return f"{self.host}: seqno {self.seqno} ({how}{safe})" if self.has_data else f"{self.host}: no cluster data"


@dataclass(frozen=True)
class Choice:
    """The node that starts the cluster again, and why."""

    host: str
    seqno: int
    reason: str
    joiners: tuple[str, ...]


def cluster_hosts(config: Config) -> list[str]:
    """The hosts of the mariadb container's group, in inventory order (the first one starts a new cluster)."""
    return container_hosts(config, load_service("mariadb"), "mariadb")


def is_cluster(config: Config) -> bool:
    """Whether this deployment runs MariaDB as a Galera cluster (2+ hosts: service.yml's `mariadb_galera`)."""
    return bool(exports(config).get("mariadb_galera"))


def needs_recovery(statuses: Sequence[NodeStatus]) -> bool:
    """True when no node is in a Primary component and some host holds data of the cluster: nothing will start
    by itself (each node waits for a peer). A fresh deployment (no volume anywhere) needs none."""
    if any(s.primary for s in statuses):
        return False
    return any(s.volume for s in statuses)


def choose(positions: Sequence[Position], order: Sequence[str]) -> Choice | None:
    """The most advanced node: highest seqno of the cluster; ties go to a node galera marked safe_to_bootstrap,
    then to the earlier host in `order`. None when no node ever ran in a cluster (a first deploy starts it).

    Nodes of different clusters (uuids) are refused: starting either would throw away the other's rows.
    """
    with_data = [p for p in positions if p.has_data]
    if not with_data:
        return None
    uuids = sorted({p.uuid for p in with_data})
    if len(uuids) > 1:
        groups = "; ".join(f"{u}: {', '.join(p.host for p in with_data if p.uuid == u)}" for u in uuids)
        raise GaleraError(f"the MariaDB nodes belong to {len(uuids)} different Galera clusters ({groups})",
                          "berth will not choose which rows to keep: look at the data on each host, then move "
                          "grastate.dat aside on the nodes whose data may go (they join by a full state transfer)")
    rank = {h: n for n, h in enumerate(order)}
    best = max(with_data, key=lambda p: (p.seqno, p.safe_to_bootstrap, -rank.get(p.host, len(rank))))
    tied = [p.host for p in with_data if p.seqno == best.seqno and p.host != best.host]
    reason = f"highest seqno {best.seqno}"
    if tied:
        why = "galera marked it safe_to_bootstrap" if best.safe_to_bootstrap else "first in the inventory"
        reason += f", as {', '.join(tied)}: {why}"
    joiners = tuple(p.host for p in positions if p.host != best.host)
    return Choice(best.host, best.seqno, reason, joiners)


def refuse_missing(missing: Sequence[str], allowed: Sequence[str]) -> None:
    """A node that did not answer may hold the most advanced data: recovering without it could lose committed
    rows, so that needs the operator's word (`--allow-missing HOST`)."""
    left = [h for h in missing if h not in allowed]
    if left:
        raise GaleraError(f"cannot recover the MariaDB cluster without {', '.join(left)}: its data may be the most "
                          "advanced", f"bring {', '.join(left)} back and run again; if it is lost for good, run "
                          f"`berth mariadb-recovery --allow-missing {','.join(left)}` (its rows not on the others "
                          "are lost)")
