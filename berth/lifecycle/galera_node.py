"""The host's half of a Galera recovery: `berth galera-node status | position | bootstrap | join` on one host.

It needs no configuration on the host: the deployment name, its state directory and the image come on the command
line from the deployment host (as for `berth observe`). Everything goes through the engine: the running node is
asked by exec, a stopped datadir by a one-shot container of the mariadb image that mounts the data volume and the
container's config directory and runs `berth-galera` (grastate.dat, `mariadbd --wsrep-recover`, the
safe_to_bootstrap mark).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from berth.engine import labels
from berth.engine.base import ContainerInfo, Engine
from berth.errors import DeployError, EngineError
from berth.lifecycle.render import (
    CONFIG_MOUNT,
    DB_CONTAINER,
    DB_SERVICE,
    DB_VOLUME,
    container_name,
    volume_name,
)
from berth.run import actions
from berth.state.desired import DesiredContainer

DATADIR = "/var/lib/mysql"
DEFAULTS = f"{CONFIG_MOUNT}/berth.cnf"  # the container's config directory holds the rendered berth.cnf
STATUS_SQL = ("SHOW GLOBAL STATUS WHERE Variable_name IN "
              "('wsrep_local_state_comment', 'wsrep_cluster_status', 'wsrep_cluster_size')")
STOP_TIMEOUT = 30
HEALTH = ("cmd", "--", "berth-galera", "health", "mariadb-admin", "--defaults-file=/etc/mysql/berth.cnf",
          "--protocol=socket", "ping")


class Node:
    """The deployment's mariadb node on this host's engine."""

    def __init__(self, engine: Engine, deployment: str, deployment_dir: Path, image: str | None = None) -> None:
        self.engine = engine
        self.deployment = deployment
        self.name = container_name(deployment, DB_CONTAINER)
        self.volume = volume_name(deployment, DB_VOLUME)
        self.config_dir = deployment_dir / "config" / DB_CONTAINER
        self.image = image

    def container(self) -> ContainerInfo | None:
        return self.engine.container(self.name)

    def status(self) -> dict[str, Any]:
        """Container state, whether the data volume exists, and the wsrep status when the server answers."""
        found = self.container()
        out: dict[str, Any] = {"container": found.state if found else None,
                               "volume": self.engine.volume(self.volume) is not None}
        if found is not None and found.running:
            try:
                result = self.engine.exec(found.name, ["mariadb", "-uroot", "-N", "-B", "-e", STATUS_SQL])
            except EngineError:  # it stopped or restarted since it was looked at: it serves nothing
                return out
            if result.code == 0:
                rows = dict(line.split("\t", 1) for line in result.output.splitlines() if "\t" in line)
                out.update(state=rows.get("wsrep_local_state_comment", ""),
                           cluster_status=rows.get("wsrep_cluster_status", ""),
                           cluster_size=int(rows.get("wsrep_cluster_size") or 0))
        return out

    def stop(self) -> None:
        found = self.container()
        if found is not None and (found.running or found.restarting):
            actions.stop(self.engine, found, STOP_TIMEOUT)

    def position(self) -> dict[str, Any]:
        """Stop the node (no node is Primary: it serves nothing), then read its datadir's position."""
        self.stop()
        return self._berth_galera(["position", DEFAULTS], "reading its Galera position")

    def start(self, safe_to_bootstrap: int, timeout: float) -> dict[str, Any]:
        """Mark the datadir (1: this node starts the cluster; 0: it joins), start the container, wait until the
        node is Synced in a Primary component."""
        found = self.container()
        if found is None:
            raise DeployError(f"there is no container {self.name} on this host",
                              "run `berth deploy`: it creates the node, which joins the cluster")
        now = self.status()
        if now.get("cluster_status") == "Primary" and now.get("state") == "Synced":
            return {**now, "already": True}  # it found a peer by itself meanwhile
        self.stop()
        marked = self._berth_galera(["mark", DEFAULTS, str(safe_to_bootstrap)], "marking grastate.dat")
        actions.start(self.engine, found)
        actions.wait_healthy(self.engine, found, self._health_target(found, timeout), (), lambda _text: None)
        return {**self.status(), "marked": marked}

    def _health_target(self, found: ContainerInfo, timeout: float) -> DesiredContainer:
        """What `wait_healthy` needs: the container's own health test (from its spec label) and a deadline."""
        spec = json.loads(found.labels.get(labels.SPEC, "{}"))
        test = tuple((spec.get("healthcheck") or {}).get("test", ["CMD", "berth-health", *HEALTH])[2:])
        return DesiredContainer(key=DB_CONTAINER, service=DB_SERVICE, name=found.name, host="", image="",
                                image_id=None, spec={}, files={}, health=test, health_timeout=timeout)

    def _berth_galera(self, args: list[str], what: str) -> dict[str, Any]:
        """Run `berth-galera ARGS` in a one-shot container on the stopped datadir; its last line is JSON."""
        found = self.container()
        image = found.image_id if found is not None and found.image_id else self.image
        if not image:
            raise DeployError(f"no mariadb image to read {self.volume} with", "pass --image (the deployment host "
                              "does) or run `berth deploy`")
        spec = {"image": image, "network_mode": "none", "user": "root", "restart": "no",
                "entrypoint": ["/usr/local/bin/berth-galera"], "command": args,
                "volumes": [f"{self.config_dir}:{CONFIG_MOUNT}:ro", f"{self.volume}:{DATADIR}"]}
        probe = DesiredContainer(key=f"{DB_CONTAINER}--galera", service=DB_SERVICE,
                                 name=f"{self.name}--galera", host="", image=image, image_id=None, spec=spec,
                                 files={})
        tail = actions.run_oneshot(self.engine, self.deployment, probe, 600, (), lambda _text: None)
        for line in reversed(tail):
            if line.startswith("{"):
                return dict(json.loads(line))
        raise DeployError(f"{what} on {self.volume} printed no answer", "see its output", details=tail)
