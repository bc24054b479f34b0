"""`berth upgrade`, `rollback`, `history`, `reconfigure`: change running services safely, plan first.

Every changing command shows its plan, `--plan` only shows it, `--yes` (or a non-interactive run) skips the
prompt, `--json` prints the plan and the results as one JSON document.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from berth.cli.context import AppContext, pass_app
from berth.cli.many import change_many, is_remote, many_options, new_run, refuse_local
from berth.config.release import SUITES
from berth.errors import Aborted


def show_and_confirm(app: AppContext, lines: list[str], plan_only: bool, yes: bool, has_changes: bool,
                     plan_data: Any, what: str) -> bool:
    """Print the plan; True when the caller should apply it (after confirmation on a terminal)."""
    for line in lines:
        app.echo(line)
    if plan_only or not has_changes:
        if app.json:
            click.echo(json.dumps({"plan": plan_data, "results": None}, indent=2, default=str))
        if not plan_only:
            app.echo("nothing to do")
        return False
    if not yes and not app.json and sys.stdin.isatty() and not click.confirm(f"{what}?", default=True):
        raise Aborted(f"{what} declined; nothing was changed")
    return True


def emit(app: AppContext, plan_data: Any, results: Any) -> None:
    if app.json:
        click.echo(json.dumps({"plan": plan_data, "results": results}, indent=2, default=str))


def progress_printer(app: AppContext) -> Callable[[str], None]:
    return (lambda line: app.echo(f"  {line}")) if app.verbose or sys.stdout.isatty() else (lambda _line: None)


def _options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--json", "json_flag", is_flag=True, help="Emit the plan and the results as JSON.")(func)
    func = click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")(func)
    return click.option("--plan", "plan_only", is_flag=True, help="Only show the plan; change nothing.")(func)


@click.command("upgrade")
@_options
@many_options
@click.option("--tag", default=None, help="Image tag to upgrade to (default: image_tag of globals.yml).")
@click.option("--build", is_flag=True, help="Build missing images instead of pulling them from docker_registry.")
@click.option("--release", default=None, type=click.Choice(sorted(SUITES)),
              help="Upgrade the running cloud to another OpenStack release (every OpenStack service; docs/upgrade.md).")
@click.argument("services", nargs=-1)
@pass_app
def upgrade_cmd(app: AppContext, plan_only: bool, yes: bool, json_flag: bool, limit: str | None,
                serial: int | None, tag: str | None, build: bool, release: str | None,
                services: tuple[str, ...]) -> None:
    """Upgrade SERVICES (default: all enabled) to new images, one service and one container at a time.

    Images first (pulled, or built without a registry), then per service: database backup, upgrade steps
    (db sync; expand/migrate before and contract after the swap where the service defines them), container
    swaps with health checks (the old container is put back automatically if the new one fails: exit 7),
    a history entry for `berth rollback`. Running it again finishes an interrupted upgrade.
    """
    from berth.engine import connect
    from berth.lifecycle import upgrade
    from berth.lifecycle.deploy import check_services
    from berth.lifecycle.hostops import upgrade_host
    from berth.state.facts import observe_facts

    app.json = app.json or json_flag
    base = app.config
    if release:
        if services:
            raise click.UsageError("--release upgrades every OpenStack service together; name no services")
        _release_upgrade(app, release, tag, limit, serial, plan_only, yes, build)
        return
    config = upgrade.with_tag(base, tag)
    selected = check_services(config, services) or [u.name for u in _units(config)]
    if is_remote(config):
        _upgrade_many(app, config, selected, base.globals.image_tag, limit, serial, plan_only, yes, build)
        return
    refuse_local(limit, serial)
    client = connect()
    facts = observe_facts(client, config.globals.deployment_name, config.deployment_dir)
    snap = upgrade_host(config, "localhost", facts, selected, build, base.globals.image_tag)
    plan = snap.plan
    if not show_and_confirm(app, upgrade.plan_lines(plan), plan_only, yes, plan.has_changes, plan.to_dict(),
                            "upgrade"):
        return
    ctx = upgrade.context(config, client, snap)
    entries, done = upgrade.run_upgrade(ctx, plan, progress_printer(app))
    for service, lines in done.items():
        app.echo(f"{service}:")
        for line in lines:
            app.echo(f"  {line}")
    emit(app, plan.to_dict(), {"entries": [e.summary() for e in entries], "done": done})
    app.echo(f"upgraded {', '.join(e.service for e in entries) or 'nothing'} to {config.globals.image_tag}")


def _release_upgrade(app: AppContext, release: str, tag: str | None, limit: str | None, serial: int | None,
                     plan_only: bool, yes: bool, build: bool) -> None:
    """Every OpenStack service to `release` in one plan, then the deployment records the release and a deploy
    of the target configuration drops the upgrade-only settings."""
    from berth.engine import connect
    from berth.lifecycle import release_change, upgrade
    from berth.state.facts import observe_facts

    source = release_change.check_upgrade(app.config, release)
    config = release_change.with_release(app.config, release, tag)
    services = release_change.release_services(config)
    if is_remote(config):
        if build or not config.globals.docker_registry:
            _upgrade_many(app, config, services, "", limit, serial, plan_only, yes, build)  # refuses with advice
        run = new_run(app, "upgrade", lambda h, f: release_change.upgrade_host(config, source, h, f, False),
                      services, config=config)
        change_many(app, run, limit, serial, plan_only, yes, pull_first=True)
        if not plan_only:
            release_change.finished(config)
            app.echo(f"the deployment runs OpenStack {release}; `berth deploy` applies its final configuration")
        return
    refuse_local(limit, serial)
    client = connect()
    facts = observe_facts(client, config.globals.deployment_name, config.deployment_dir)
    if not plan_only:
        release_change.prechecks(config, facts, client)
    snap = release_change.upgrade_host(config, source, "localhost", facts, build)
    lines = [f"upgrade OpenStack {source} -> {release} (image tag {config.globals.image_tag}):"]
    lines += upgrade.plan_lines(snap.plan)[1:]
    if not show_and_confirm(app, lines, plan_only, yes, snap.plan.has_changes, snap.plan.to_dict(), "upgrade"):
        return
    entries, done = upgrade.run_upgrade(upgrade.context(config, client, snap), snap.plan, progress_printer(app))
    for service, found in done.items():
        app.echo(f"{service}:")
        for line in found:
            app.echo(f"  {line}")
    release_change.finished(config)
    settled = release_change.settled(config)
    _final_deploy(app, client, settled)
    _switch_backend(app, client, release_change.settled(release_change.with_release(app.config, source)), settled)
    emit(app, snap.plan.to_dict(), {"entries": [e.summary() for e in entries], "done": done})
    app.echo(f"upgraded {', '.join(e.service for e in entries) or 'nothing'} to OpenStack {release}")


def _switch_backend(app: AppContext, client: Any, source: Any, target: Any) -> None:
    """Neutron's backend differs between the releases: rebuild the agents' namespaces, rebind and restart the
    servers (berth.lifecycle.backend_switch)."""
    from berth.lifecycle import backend_switch

    if not backend_switch.switches(source, target):
        return
    app.echo("switching Neutron's backend: namespaces rebuilt, ports bound again, servers rebooted")
    done = backend_switch.rewire(source, target, client, progress_printer(app))
    app.echo(f"  removed {len(done.removed)} device(s)/namespace(s) of the previous backend, bound {done.rebound} "
             f"port(s) again, rebooted {len(done.rebooted)} server(s)")


def _final_deploy(app: AppContext, client: Any, config: Any) -> None:
    """The target release's own configuration (without the upgrade-only settings): usually a few restarts."""
    from berth.lifecycle.deploy import converge_host, raise_for, snapshot

    snap = snapshot(config, client)
    if snap.plan.has_changes:
        app.echo("applying the release's final configuration:")
        raise_for(converge_host(snap, client))


def _upgrade_many(app: AppContext, config: Any, selected: list[str], configured_tag: str, limit: str | None,
                  serial: int | None, plan_only: bool, yes: bool, build: bool) -> None:
    """Every host planned from its facts (its pins, its history); images pulled on every host first."""
    from berth.errors import ConfigError
    from berth.lifecycle.hostops import upgrade_host

    if build or not config.globals.docker_registry:
        raise ConfigError("an upgrade over many hosts pulls its images from docker_registry; hosts do not build",
                          "set docker_registry in globals.yml, then `berth build --push` (or `berth push`) the tag "
                          f"{config.globals.image_tag} on the deployment host")
    run = new_run(app, "upgrade", lambda h, f: upgrade_host(config, h, f, selected, False, configured_tag),
                  selected, config=config)
    change_many(app, run, limit, serial, plan_only, yes, pull_first=True)


def _units(config: Any) -> list[Any]:
    from berth.lifecycle.render import enabled_services

    return enabled_services(config)


@click.command("rollback")
@_options
@many_options
@click.option("--to", "to", type=int, default=None, help="History entry id (default: the one before the current).")
@click.option("--restore-database", is_flag=True,
              help="Allow restoring the database backup when the schema changed since that entry (data loss).")
@click.option("--release", default=None, type=click.Choice(sorted(SUITES)),
              help="Return every OpenStack service to RELEASE, as it was before `berth upgrade --release`.")
@click.argument("service", required=False)
@pass_app
def rollback_cmd(app: AppContext, plan_only: bool, yes: bool, json_flag: bool, limit: str | None,
                 serial: int | None, to: int | None, restore_database: bool, release: str | None,
                 service: str | None) -> None:
    """Return SERVICE to a recorded history entry (`berth history`): a container swap when the schema did not
    change; with a schema change only with --restore-database (restores the backup, reports the lost rows).

    With --release (and no SERVICE): every OpenStack service back to the entry before the release upgrade, in
    reverse dependency order; the schema always changed, so it needs --restore-database."""
    from berth.engine import connect
    from berth.lifecycle import rollback
    from berth.lifecycle.deploy import check_services
    from berth.lifecycle.hostops import rollback_host
    from berth.state.facts import observe_facts

    app.json = app.json or json_flag
    config = app.config
    if release or not service:
        if not release or service or to is not None:
            raise click.UsageError("name a SERVICE (with --to ENTRY), or --release RELEASE without one")
        _release_rollback(app, release, restore_database, limit, serial, plan_only, yes)
        return
    check_services(config, [service])
    if is_remote(config):  # each host returns to an entry of its own history (`--to`: ids per host)
        run = new_run(app, "rollback", lambda h, f: rollback_host(config, h, f, service, to, restore_database),
                      [service])
        change_many(app, run, limit, serial, plan_only, yes)
        return
    refuse_local(limit, serial)
    client = connect()
    facts = observe_facts(client, config.globals.deployment_name, config.deployment_dir)
    actual, entries = facts.actual, list(facts.history)
    plan = rollback_host(config, "localhost", facts, service, to, restore_database).plan
    lines = rollback.plan_lines(plan)
    if plan_only:
        show_and_confirm(app, lines, True, yes, plan.has_changes, plan.to_dict(), "rollback")
        return
    rollback.check(plan)
    if not show_and_confirm(app, lines, plan_only, yes, plan.has_changes, plan.to_dict(), "rollback"):
        return
    ctx = rollback.context(config, client, plan, entries, actual)
    result = rollback.run_rollback(ctx, plan, progress_printer(app))
    for line in result.done:
        app.echo(f"  {line}")
    for db, tables in result.lost.items():
        for table, (now, after) in sorted(tables.items()):
            app.echo(f"  lost in {db}.{table}: {now - after} row(s) ({now} -> {after})")
    emit(app, plan.to_dict(), result.to_dict())
    app.echo(f"rolled back {service} to entry {rollback.target_of(plan)} in {result.elapsed:.1f}s (history entry "
             f"{result.entry.id})")


def _release_rollback(app: AppContext, release: str, restore_database: bool, limit: str | None,
                      serial: int | None, plan_only: bool, yes: bool) -> None:
    """Per service (Horizon first, Keystone last) the usual rollback plan to its entry before the release
    upgrade; all are shown and checked before any is applied."""
    from berth.engine import connect
    from berth.lifecycle import release_change, rollback
    from berth.state.facts import observe_facts

    release_change.check_rollback(app.config, release)
    config = release_change.settled(release_change.with_release(app.config, release))
    if is_remote(config):
        raise click.UsageError("a release rollback over many hosts is not supported yet: roll back each service "
                               "with `berth -i INVENTORY rollback SERVICE --restore-database`")
    refuse_local(limit, serial)
    client = connect()
    facts = observe_facts(client, config.globals.deployment_name, config.deployment_dir)
    plans = release_change.rollback_hosts(config, "localhost", facts, release, restore_database)
    app.echo(f"rollback OpenStack {app.config.running_release} -> {release}:")
    for hp in plans:
        for line in rollback.plan_lines(hp.plan):
            app.echo(f"  {line}")
    if not plans:
        app.echo("  no service was upgraded from this release: nothing to do")
        return
    if plan_only:
        emit(app, [hp.plan.to_dict() for hp in plans], None)
        return
    for hp in plans:
        rollback.check(hp.plan)
    if not show_and_confirm(app, [], False, yes, True, None, "rollback"):
        return
    results = []
    for hp in plans:
        ctx = rollback.context(config, client, hp.plan, list(facts.history), facts.actual)
        result = rollback.run_rollback(ctx, hp.plan, progress_printer(app))
        results.append(result)
        app.echo(f"{hp.plan.services[0]}: back to entry {rollback.target_of(hp.plan)} in {result.elapsed:.1f}s")
        for db, tables in result.lost.items():
            for table, (now, after) in sorted(tables.items()):
                app.echo(f"  lost in {db}.{table}: {now - after} row(s) ({now} -> {after})")
    release_change.rolled_back(config, release)
    _switch_backend(app, client, release_change.settled(release_change.with_release(app.config,
                                                                                    app.config.running_release or "")),
                    config)
    emit(app, [hp.plan.to_dict() for hp in plans], [r.to_dict() for r in results])
    app.echo(f"rolled back {len(plans)} service(s) to OpenStack {release}")


@click.command("history")
@click.option("--json", "json_flag", is_flag=True, help="Emit the entries as JSON.")
@click.argument("service", required=False)
@pass_app
def history_cmd(app: AppContext, json_flag: bool, service: str | None) -> None:
    """Recorded deploys, upgrades and rollbacks: id, time, service, tags, image ids, schema change, backups."""
    from berth.lifecycle.show import table
    from berth.state.history import History

    entries = [e for e in History(app.config.deployment_dir).entries() if service in (None, e.service)]
    if app.json or json_flag:
        click.echo(json.dumps([e.summary() for e in entries], indent=2))
        return
    rows = [(str(s["id"]), s["time"], s["service"], s["kind"] + ("" if s["state"] == "done" else f" ({s['state']})"),
             ",".join(s["tags"]), " ".join(f"{k}={v}" for k, v in s["images"].items()),
             "yes" if s["schema_changed"] else "no", " ".join(s["backups"]) or "-")
            for s in (e.summary() for e in entries)]
    for line in table(rows, ("ID", "TIME", "SERVICE", "KIND", "TAGS", "IMAGES", "SCHEMA", "BACKUP")):
        app.echo(line)


@click.command("reconfigure")
@_options
@many_options
@click.argument("services", nargs=-1)
@pass_app
def reconfigure_cmd(app: AppContext, plan_only: bool, yes: bool, json_flag: bool, limit: str | None,
                    serial: int | None, services: tuple[str, ...]) -> None:
    """Re-render the configuration and restart exactly the containers whose config hash changed."""
    import dataclasses

    from berth.engine import connect
    from berth.lifecycle.deploy import check_release, check_services, converge_host, raise_for, snapshot
    from berth.lifecycle.maintenance import reconfigure_plan
    from berth.lifecycle.show import plan_lines

    app.json = app.json or json_flag
    config = app.config
    selected = check_services(config, services)
    check_release(config, changes=False)
    if is_remote(config):
        from berth.lifecycle import hostops

        run = new_run(app, "reconfigure", lambda h, f: hostops.reconfigure(config, h, f, selected), selected,
                      facts=False)
        change_many(app, run, limit, serial, plan_only, yes)
        return
    refuse_local(limit, serial)
    client = connect()
    snap = snapshot(config, client, selected)
    snap = dataclasses.replace(snap, plan=reconfigure_plan(snap.plan))
    if not show_and_confirm(app, plan_lines(snap.plan), plan_only, yes, snap.plan.has_changes,
                            snap.plan.to_dict(), "reconfigure"):
        return
    outcome = converge_host(snap, client)
    emit(app, snap.plan.to_dict(), outcome.to_dict())
    raise_for(outcome)
    changed = [c.name for c in snap.plan.changes if c.action.changes]
    app.echo(f"reconfigured {', '.join(changed)} in {outcome.elapsed:.1f}s")


def register(group: click.Group) -> None:
    for command in (upgrade_cmd, rollback_cmd, history_cmd, reconfigure_cmd):
        group.add_command(command)
