"""`berth bootstrap-host`."""

from __future__ import annotations

import json

import click

from berth.cli.context import AppContext, pass_app
from berth.errors import HostError
from berth.host.bootstrap import BootstrapOptions, bootstrap_tasks
from berth.run.events import Status
from berth.run.scheduler import run_graph
from berth.ui.progress import reporter_for

WORDS = {Status.CACHED: "ok (nothing to do)", Status.SUCCEEDED: "done"}


@click.command("bootstrap-host")
@pass_app
def bootstrap_host(app: AppContext) -> None:
    """Install the Docker engine, debootstrap and python3, start the engine, apply sysctls (idempotent)."""
    tasks = bootstrap_tasks(BootstrapOptions())
    with reporter_for([t.key for t in tasks], json=app.json, quiet=app.quiet, verbose=app.verbose,
                      words=WORDS) as report:
        result = run_graph(tasks, max_workers=1, on_event=report)
    if app.json:
        click.echo(json.dumps({k: o.status.value for k, o in result.outcomes.items()}))
    failed = result.with_status(Status.FAILED)
    if failed:
        err = failed[0].error
        if isinstance(err, HostError):
            raise err
        raise HostError(f"{failed[0].key} failed: {failed[0].message}", "re-run with --debug for details")
    app.echo("host ready: the Docker engine answers")


def register(group: click.Group) -> None:
    group.add_command(bootstrap_host)
