"""`berth apply-plan FILE`: apply one host's plan, as shipped, with this host's engine only.

This is the per-host half of a multi-host change: the deployment host renders and plans (`berth deploy --plan
--offline --write-plans DIR`, or the many-hosts commands), and each host applies its own plan with the same code
the all-in-one runs in-process. It reads no configuration directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from berth.cli.commands.deploy import WORDS
from berth.cli.context import AppContext, pass_app
from berth.errors import DeployError


@click.command("apply-plan")
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def apply_plan_cmd(app: AppContext, plan_file: Path) -> None:
    """Apply a host plan written by berth (JSON, mode 0600) on this host's container engine."""
    from berth.engine import connect
    from berth.lifecycle.deploy import converge_host, raise_for
    from berth.lifecycle.hostplans import changed_since
    from berth.plan.hostplan import read
    from berth.state.observe import observe
    from berth.ui.progress import reporter_for

    plan = read(plan_file)
    engine = connect()
    changed = changed_since(plan.actual, observe(engine, plan.deployment, Path(plan.deployment_dir)))
    if changed:
        raise DeployError(f"host {plan.host} changed since its plan was made; nothing was applied",
                          "make the plan again from the host's current state", details=changed)
    named = [*plan.plan.services, *(c.service for c in plan.plan.changes), *(s.service for s in plan.plan.steps)]
    keys = list(dict.fromkeys(n for n in named if n))
    with reporter_for(keys, json=app.json, quiet=app.quiet, verbose=app.verbose, words=WORDS) as sink:
        outcome = converge_host(plan, engine, on_event=sink)
    if app.json:
        click.echo(json.dumps({"host": plan.host, "results": outcome.to_dict()}, indent=2))
    raise_for(outcome)
    app.echo(f"host {plan.host}: {plan.plan.operation.value} applied in {outcome.elapsed:.1f}s")


def register(group: click.Group) -> None:
    group.add_command(apply_plan_cmd)
