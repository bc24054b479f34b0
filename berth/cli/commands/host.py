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
@click.option("--limit", default=None, metavar="HOST|GROUP[,...]", help="Many hosts: only these hosts or groups.")
@pass_app
def bootstrap_host(app: AppContext, limit: str | None) -> None:
    """Install the Docker engine, debootstrap and python3, start the engine, apply sysctls (idempotent).
    With an inventory of other hosts (-i): on each of them through Ansible, after checking that each runs the
    same berth version as this host."""
    if app.inventory is not None:
        from berth.cli.many import is_remote

        if is_remote(app.config):
            _bootstrap_many(app, limit)
            return
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


def _bootstrap_many(app: AppContext, limit: str | None) -> None:
    """Versions first (a host with another berth is named and left alone), then `berth bootstrap-host` on each
    host that matches; exit 8 naming every host that is not ready."""
    from pathlib import Path

    from berth.remote import commands
    from berth.remote.deploy import targeted_hosts

    assert app.inventory is not None
    inventory = Path(app.inventory)
    hosts = targeted_hosts(app.config, None, limit)
    answers = commands.versions(inventory, hosts)
    same = [h for h in hosts if answers[h].ok]
    if same:
        answers.update(commands.bootstrap(inventory, same))
    if app.json:
        click.echo(json.dumps({h: {"ok": a.ok, "message": a.message, "details": a.details, "steps": a.data}
                               for h, a in answers.items()}, indent=2))
    for host, answer in answers.items():
        app.echo(f"{host:<20} {'ready' if answer.ok else 'FAILED':<8} {answer.message}")
        for line in answer.details:
            app.echo(f"    {line}")
    bad = [h for h in hosts if not answers[h].ok]
    if bad:
        raise HostError(f"{len(bad)} of {len(hosts)} host(s) not ready: "
                        + "; ".join(f"{h}: {answers[h].message}" for h in bad),
                        "fix what is named above, then run it again (it changes nothing that is ready)")


def register(group: click.Group) -> None:
    group.add_command(bootstrap_host)
