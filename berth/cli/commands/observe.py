"""`berth observe`: what this host's engine runs for a deployment, as the planner sees it.

This is the per-host half of planning many hosts: the deployment host runs `berth observe --json` on every host
(through Ansible), reads the `ActualState` back with the plan codec and plans each host against it. It needs no
configuration on the host when `--deployment` and `--deployment-dir` are given (the deployment host passes both).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import click

from berth.cli.context import AppContext, pass_app


def observation(deployment: str, deployment_dir: Path, with_files: bool = False, facts: bool = False
                ) -> dict[str, Any]:
    """This host's observed state as plain data (the codec's form of `ActualState`) with the host's name, and
    with `facts` the rest of its `HostFacts` under `extra` (history, pins, image ids, networks, host objects:
    what stop, destroy, upgrade and rollback plan from).

    The config files each container was last started with (and each history entry recorded) hold secrets, and
    the host cannot mask them (it has no passwords file): they are left out unless the deployment host asks for
    them (`--with-files`, for diffs, for putting a container's old files back, for rolling back to an entry),
    which it does only through its own transport.
    """
    from berth.engine import connect
    from berth.plan.codec import to_data
    from berth.state.facts import HostFacts, observe_facts
    from berth.state.observe import OBSERVATION_VERSION, observe

    engine = connect()
    found = observe_facts(engine, deployment, deployment_dir) if facts else \
        HostFacts(observe(engine, deployment, deployment_dir))
    if not with_files:
        found = found.without_files()
    data = to_data(found)
    out = {"version": OBSERVATION_VERSION, "hostname": socket.gethostname(), "actual": data.pop("actual")}
    if facts:
        out["extra"] = data
    return out


@click.command("observe")
@click.option("--deployment", default=None, help="Deployment name (default: deployment_name of globals.yml).")
@click.option("--deployment-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The deployment's state directory on this host (default: from globals.yml).")
@click.option("--json", "json_flag", is_flag=True, help="The whole observed state as JSON (what planning reads).")
@click.option("--facts", is_flag=True,
              help="With --json: also history, pins, image ids, networks and host objects (what stop, destroy, "
                   "upgrade and rollback plan from).")
@click.option("--with-files", is_flag=True,
              help="With --json: include the config files each container was started with (they hold secrets; "
                   "the deployment host's transport asks for them).")
@pass_app
def observe_cmd(app: AppContext, deployment: str | None, deployment_dir: Path | None, json_flag: bool,
                facts: bool, with_files: bool) -> None:
    """Show what this host runs for the deployment: containers, state, health (--json: everything observed)."""
    if deployment is None or deployment_dir is None:
        deployment = deployment or app.config.globals.deployment_name
        deployment_dir = deployment_dir or app.config.deployment_dir
    data = observation(deployment, deployment_dir, with_files, facts)
    if app.json or json_flag:
        click.echo(json.dumps(data, sort_keys=True, separators=(",", ":")))
        return
    containers = data["actual"]["containers"]
    app.echo(f"{data['hostname']}: {len(containers)} container(s) of deployment {deployment}")
    for row in containers:
        health = f" ({row['health']})" if row["health"] else ""
        app.echo(f"  {row['name']:<40} {row['state']}{health}")


def register(group: click.Group) -> None:
    group.add_command(observe_cmd)
