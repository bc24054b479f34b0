"""`berth mariadb-recovery` (start a stopped Galera cluster again) and `berth galera-node` (its per-host half)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from berth.cli.context import AppContext, pass_app
from berth.errors import ConfigError


@click.command("mariadb-recovery")
@click.option("--allow-missing", default="", metavar="HOST[,...]",
              help="Recover without these hosts although they do not answer (their rows not on the others are lost).")
@pass_app
def mariadb_recovery_cmd(app: AppContext, allow_missing: str) -> None:
    """Start the MariaDB Galera cluster again after every node stopped: the most advanced node (highest seqno,
    recovered from InnoDB after a crash) starts it, the others join. Does nothing while a node is Primary."""
    from berth.cli.many import is_remote
    from berth.lifecycle.galera import is_cluster
    from berth.remote.galera import recover

    if not is_cluster(app.config) or not is_remote(app.config) or app.inventory is None:
        raise ConfigError("MariaDB is not a Galera cluster in this deployment (one mariadb host)",
                          "a cluster needs 2 or more hosts in the mariadb group of the inventory (-i INVENTORY)")
    choice = recover(app.config, Path(app.inventory), app.echo, [h for h in allow_missing.split(",") if h])
    if app.json:
        click.echo(json.dumps({"recovered": choice is not None, "bootstrap": choice.host if choice else None,
                               "seqno": choice.seqno if choice else None,
                               "joined": list(choice.joiners) if choice else []}))
    app.echo(f"the cluster runs again, started from {choice.host}" if choice else "nothing to recover")


@click.command("galera-node", hidden=True)
@click.argument("action", type=click.Choice(["status", "position", "bootstrap", "join"]))
@click.option("--deployment", required=True)
@click.option("--deployment-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--image", default=None, help="The mariadb image to read the datadir with when no container exists.")
@click.option("--timeout", type=float, default=600.0, help="bootstrap, join: seconds to wait for Synced.")
def galera_node_cmd(action: str, deployment: str, deployment_dir: Path, image: str | None, timeout: float) -> None:
    """This host's MariaDB Galera node, for `berth mariadb-recovery` on the deployment host (one JSON line)."""
    from berth.engine import connect
    from berth.lifecycle.galera_node import Node

    node = Node(connect(), deployment, deployment_dir, image)
    if action == "status":
        out = node.status()
    elif action == "position":
        out = node.position()
    else:
        out = node.start(1 if action == "bootstrap" else 0, timeout)
    click.echo(json.dumps(out, sort_keys=True))


def register(group: click.Group) -> None:
    group.add_command(mariadb_recovery_cmd)
    group.add_command(galera_node_cmd)
