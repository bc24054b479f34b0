"""`berth deploy` and `berth prechecks`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from berth.cli.context import AppContext, pass_app
from berth.errors import Aborted, EngineError, PrecheckError
from berth.run.events import Status

WORDS = {Status.CACHED: "unchanged", Status.SUCCEEDED: "deployed"}


def _checks_output(app: AppContext, checks: list) -> None:  # type: ignore[type-arg]
    for check in checks:
        mark = "ok  " if check.ok else ("warn" if check.warning else "FAIL")
        app.echo(f"{mark}  {check.name:<18} {check.message}")
        if not check.ok and check.fix:
            app.echo(f"      {'':<18} fix: {check.fix}")


def _prechecks(app: AppContext, services: list[str] | None, show_ok: bool) -> None:
    """Run every check; raise PrecheckError (exit 5) listing each failure with its fix."""
    from berth.engine import connect
    from berth.lifecycle.deploy import snapshot
    from berth.lifecycle.prechecks import failed, run_prechecks

    config = app.config
    client, error, snap = None, "", None
    try:
        client = connect()
    except EngineError as err:
        error = err.message
    if client is not None:
        snap = snapshot(config, client, services)
    running = {c.key for c in snap.actual.containers if c.running} if snap else set()
    checks = run_prechecks(config, client, snap.desired if snap else None, running, error)
    bad = failed(checks)
    if app.json and show_ok:
        click.echo(json.dumps({"ok": not bad, "checks": [c.__dict__ for c in checks]}, indent=2))
    elif show_ok or bad:
        _checks_output(app, checks if show_ok else bad + [c for c in checks if c.warning and not c.ok])
    if bad:
        raise PrecheckError(f"{len(bad)} precheck(s) failed: {', '.join(c.name for c in bad)}",
                            "apply the fixes above; nothing was changed", details=[f"{c.name}: {c.fix}" for c in bad])


@click.command("prechecks")
@click.option("--limit", default=None, metavar="HOST|GROUP[,...]", help="Many hosts: only these hosts or groups.")
@click.argument("services", nargs=-1)
@pass_app
def prechecks_cmd(app: AppContext, limit: str | None, services: tuple[str, ...]) -> None:
    """Check the host before a deploy: engine, ports, addresses, /dev/kvm, disk, memory, passwords, images."""
    from berth.cli.many import is_remote
    from berth.lifecycle.deploy import check_services

    selected = check_services(app.config, services)
    if is_remote(app.config):
        _prechecks_many(app, selected, limit)
        return
    if limit:
        raise click.UsageError("--limit needs an inventory of other hosts (-i INVENTORY)")
    _prechecks(app, selected, show_ok=True)
    app.echo("all prechecks passed")


def _prechecks_many(app: AppContext, selected: list[str] | None, limit: str | None) -> None:
    """The configuration and passwords here, once; each host's engine, registry, ports, devices, disk and memory
    there (`berth check-host` through Ansible). Exit 5 naming every host with a failed check."""
    from berth.lifecycle.prechecks import config_check, failed, password_check
    from berth.remote import commands
    from berth.remote.deploy import targeted_hosts

    config = app.config
    here = [config_check(config), password_check(config)]
    hosts = targeted_hosts(config, selected, limit)
    assert app.inventory is not None
    answers = commands.prechecks(config, Path(app.inventory), hosts)
    if app.json:
        click.echo(json.dumps({"ok": not failed(here) and all(a.ok for a in answers.values()),
                               "checks": [c.__dict__ for c in here],
                               "hosts": {h: {"ok": a.ok, "message": a.message, "checks": a.data or [],
                                             "details": a.details} for h, a in answers.items()}}, indent=2))
    else:
        app.echo("=== deployment host (configuration)")
        _checks_output(app, here)
        for host, answer in answers.items():
            app.echo(f"=== host {host}: {answer.message}")
            for row in answer.data or []:
                mark = "ok  " if row["ok"] else ("warn" if row.get("warning") else "FAIL")
                app.echo(f"{mark}  {row['name']:<18} {row['message']}")
                if not row["ok"] and row.get("fix"):
                    app.echo(f"      {'':<18} fix: {row['fix']}")
            for line in answer.details:
                app.echo(f"      {line}")
    bad_hosts = [h for h, a in answers.items() if not a.ok]
    if failed(here) or bad_hosts:
        names = [c.name for c in failed(here)] + [f"{h}: {answers[h].message}" for h in bad_hosts]
        raise PrecheckError(f"prechecks failed: {'; '.join(names)}", "apply the fixes above; nothing was changed")
    app.echo(f"all prechecks passed on {len(hosts)} host(s)")


@click.command("deploy")
@click.option("--plan", "plan_only", is_flag=True, help="Only show what would change; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--skip-prechecks", is_flag=True, help="Do not run the host prechecks first.")
@click.option("--json", "json_flag", is_flag=True, help="Emit the plan and the results as JSON.")
@click.option("--offline", is_flag=True,
              help="Plan every inventory host as if it were empty, without contacting any host or engine "
                   "(implies --plan).")
@click.option("--write-plans", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --offline: also write each host's full plan to DIR/<host>.json (mode 0600).")
@click.option("--limit", default=None, metavar="HOST|GROUP[,...]",
              help="Many hosts: only these inventory hosts or groups.")
@click.option("--serial", type=click.IntRange(min=1), default=None, metavar="N",
              help="Many hosts: apply at most N hosts at a time (within each wave).")
@click.argument("services", nargs=-1)
@pass_app
def deploy_cmd(app: AppContext, plan_only: bool, yes: bool, skip_prechecks: bool, json_flag: bool, offline: bool,
               write_plans: Path | None, limit: str | None, serial: int | None, services: tuple[str, ...]) -> None:
    """Converge containers to the configuration: observe, plan (shown with a diff), then apply.

    Without SERVICES the whole deployment; with them only those services (their dependencies must be up).
    Running it again after a failure finishes the job; with nothing changed it changes nothing.
    With an inventory of other hosts (-i), every host is observed and planned here and applies its own plan,
    reached through Ansible (docs/multihost.md).
    """
    from berth.engine import connect
    from berth.lifecycle.deploy import check_release, check_services, converge_host, raise_for, snapshot
    from berth.lifecycle.show import plan_lines
    from berth.ui.progress import reporter_for

    app.json = app.json or json_flag
    config = app.config
    selected = check_services(config, services)
    check_release(config, changes=not (plan_only or offline))
    if write_plans is not None and not offline:
        raise click.UsageError("--write-plans needs --offline")
    if offline:
        _offline_plans(app, selected, write_plans)
        return
    from berth.cli.many import deploy_many, is_remote

    if is_remote(config):
        if not plan_only:
            _galera_first(app, selected)
        deploy_many(app, selected, limit, serial, plan_only, yes)
        return
    if limit or serial:
        raise click.UsageError("--limit and --serial need an inventory of other hosts (-i INVENTORY)")
    if not skip_prechecks and not plan_only:
        _prechecks(app, selected, show_ok=False)
    client = connect()
    snap = snapshot(config, client, selected)
    for line in plan_lines(snap.plan, verbose=True):
        app.echo(line)
    if plan_only or not snap.plan.has_changes:
        if app.json:
            click.echo(json.dumps({"plan": snap.plan.to_dict(), "results": None}, indent=2))
        if not plan_only:
            from berth.lifecycle.records import record_deploy

            record_deploy(config.deployment_dir, client, snap.desired, [u.name for u in snap.desired.services
                                                         if u.name in snap.plan.services], set())
            app.echo("nothing to do: every container is up to date")
        return
    if not yes and not app.json and sys.stdin.isatty() and not click.confirm("apply this plan?", default=True):
        raise Aborted("deploy declined; nothing was changed")
    keys = [u.name for u in snap.desired.services if u.name in snap.plan.services]
    with reporter_for(keys, json=app.json, quiet=app.quiet, verbose=app.verbose, words=WORDS) as sink:
        outcome = converge_host(snap, client, on_event=sink)
    if app.json:
        click.echo(json.dumps({"plan": snap.plan.to_dict(), "results": outcome.to_dict()}, indent=2))
    raise_for(outcome)
    app.echo(f"deployed in {outcome.elapsed:.1f}s (one-shot steps {outcome.timings.steps:.1f}s, "
             f"health waits {outcome.timings.health:.1f}s)")


def _galera_first(app: AppContext, selected: list[str] | None) -> None:
    """A MariaDB Galera cluster whose nodes all stopped starts again from its most advanced node before anything
    is applied (`berth mariadb-recovery`): each node alone waits for a peer and would never start."""
    from berth.lifecycle.galera import is_cluster
    from berth.remote.galera import recover

    if (selected is not None and "mariadb" not in selected) or not is_cluster(app.config):
        return
    assert app.inventory is not None
    lines: list[str] = []
    choice = recover(app.config, Path(app.inventory), lines.append)
    if choice is not None:
        for line in lines:
            app.echo(f"mariadb: {line}")
        app.echo(f"mariadb: the cluster runs again, started from {choice.host}")


def _offline_plans(app: AppContext, selected: list[str] | None, folder: Path | None) -> None:
    """Every host's plan against an empty host: what a first deploy of this inventory would do."""
    from berth.lifecycle.hostplans import host_plans, summary
    from berth.lifecycle.show import plan_lines
    from berth.plan.hostplan import write

    plans = host_plans(app.config, None, selected)
    for plan in plans:
        app.echo(f"=== host {plan.host}")
        for line in plan_lines(plan.plan, verbose=False):
            app.echo(line)
        app.echo()
        if folder is not None:
            write(plan, folder / f"{plan.host}.json")
    if app.json:
        click.echo(json.dumps({"deployment": app.config.globals.deployment_name, "offline": True,
                               "hosts": [summary(p) for p in plans]}, indent=2))


def register(group: click.Group) -> None:
    group.add_command(deploy_cmd)
    group.add_command(prechecks_cmd)
