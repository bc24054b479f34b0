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


def observation(deployment: str, deployment_dir: Path, with_files: bool = False) -> dict[str, Any]:
    """This host's observed state as plain data (the codec's form of `ActualState`) with the host's name.

    The config files each container was last started with hold secrets, and the host cannot mask them (it has no
    passwords file): they are left out unless the deployment host asks for them (`--with-files`, for diffs and
    for putting a container's old files back), which it does only through its own transport.
    """
    from dataclasses import replace

    from berth.engine import connect
    from berth.plan.codec import to_data
    from berth.state.observe import OBSERVATION_VERSION, observe

    actual = observe(connect(), deployment, deployment_dir)
    if not with_files:
        actual = replace(actual, containers=tuple(replace(c, files={}) for c in actual.containers))
    return {"version": OBSERVATION_VERSION, "hostname": socket.gethostname(), "actual": to_data(actual)}


@click.command("observe")
@click.option("--deployment", default=None, help="Deployment name (default: deployment_name of globals.yml).")
@click.option("--deployment-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The deployment's state directory on this host (default: from globals.yml).")
@click.option("--json", "json_flag", is_flag=True, help="The whole observed state as JSON (what planning reads).")
@click.option("--with-files", is_flag=True,
              help="With --json: include the config files each container was started with (they hold secrets; "
                   "the deployment host's transport asks for them).")
@pass_app
def observe_cmd(app: AppContext, deployment: str | None, deployment_dir: Path | None, json_flag: bool,
                with_files: bool) -> None:
    """Show what this host runs for the deployment: containers, state, health (--json: everything observed)."""
    if deployment is None or deployment_dir is None:
        deployment = deployment or app.config.globals.deployment_name
        deployment_dir = deployment_dir or app.config.deployment_dir
    data = observation(deployment, deployment_dir, with_files)
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
