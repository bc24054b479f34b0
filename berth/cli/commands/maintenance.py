"""`berth stop`, `destroy`, `pull`, `cleanup containers|host|images`: plan first, like every changing command."""

from __future__ import annotations

import click

from berth.cli.commands.lifecycle_ops import _options, emit, progress_printer, show_and_confirm
from berth.cli.context import AppContext, pass_app
from berth.cli.many import change_many, is_remote, many_options, new_run, refuse_local
from berth.errors import BerthError, ExitCode

DESTROY_FLAG = "--yes-i-really-really-mean-it"


class Refused(BerthError):
    exit_code = ExitCode.USAGE


@click.command("stop")
@_options
@many_options
@click.argument("services", nargs=-1)
@pass_app
def stop_cmd(app: AppContext, plan_only: bool, yes: bool, json_flag: bool, limit: str | None, serial: int | None,
             services: tuple[str, ...]) -> None:
    """Stop the containers of SERVICES (default: all), dependents first. `berth deploy` starts them again.
    Over many hosts (-i): hosts in reverse wave order (dependents' hosts first)."""
    from berth.engine import connect
    from berth.errors import DeployError
    from berth.lifecycle import hostops
    from berth.lifecycle.deploy import check_services, snapshot
    from berth.lifecycle.maintenance import execute, op_lines, stop_plan

    app.json = app.json or json_flag
    config = app.config
    selected = check_services(config, services)
    if is_remote(config):
        run = new_run(app, "stop", lambda h, f: hostops.stop(config, h, f, selected), selected, facts=False)
        change_many(app, run, limit, serial, plan_only, yes)
        return
    refuse_local(limit, serial)
    client = connect()
    snap = snapshot(config, client, selected)
    desired = snap.desired
    plan = stop_plan(desired, snap.actual, selected)
    if not show_and_confirm(app, op_lines(plan), plan_only, yes, plan.has_changes, plan.to_dict(), "stop"):
        return
    result = execute(client, plan, desired, config.deployment_dir, progress_printer(app)).result
    assert result is not None
    emit(app, plan.to_dict(), {k: o.status.value for k, o in result.outcomes.items()})
    if not result.ok:
        failed = [o for o in result.outcomes.values() if o.status.value == "failed"]
        raise DeployError(f"stopping {failed[0].key} failed: {failed[0].message}")
    app.echo(f"stopped {len(plan.changes)} container(s)")


@click.command("destroy")
@click.option(DESTROY_FLAG, "really", is_flag=True, help="Required: this removes every container and volume.")
@click.option("--include-images", is_flag=True, help="Also remove the images this deployment uses.")
@click.option("--include-data", is_flag=True,
              help="Also remove the host directories where services keep data outside volumes (Ceph's monitor "
                   "stores and OSD files, Swift's devices).")
@click.option("--plan", "plan_only", is_flag=True, help="Only show what would be removed.")
@click.option("--json", "json_flag", is_flag=True, help="Emit the plan and the results as JSON.")
@pass_app
def destroy_cmd(app: AppContext, really: bool, include_images: bool, include_data: bool, plan_only: bool,
                json_flag: bool) -> None:
    """Remove this deployment: containers, volumes (data!), networks, host interfaces/namespaces/rules berth
    made, generated state. The configuration directory, database backups and the host directories of data
    services declare (Ceph's, Swift's; docs/storage.md) are kept; --include-data removes those too."""
    from berth.engine import connect
    from berth.lifecycle.maintenance import destroy_plan, execute, op_lines, units_of
    from berth.state.facts import observe_facts

    app.json = app.json or json_flag
    config = app.config
    if not really and not plan_only:
        raise Refused(f"destroy removes every container and volume of deployment {config.globals.deployment_name} "
                      "(all data)", f"add {DESTROY_FLAG} if that is what you want; --plan shows what would go")
    if is_remote(config):
        from berth.lifecycle import hostops

        run = new_run(app, "destroy", lambda h, f: hostops.destroy(config, h, f, include_images, include_data))
        change_many(app, run, None, None, plan_only, True)
        return
    client = connect()
    facts = observe_facts(client, config.globals.deployment_name, config.deployment_dir)
    plan = destroy_plan(config, facts, include_images, include_data=include_data)
    if not show_and_confirm(app, op_lines(plan), plan_only, True, plan.has_changes, plan.to_dict(), "destroy"):
        return
    executor = execute(client, plan, units_of(config), config.deployment_dir, progress_printer(app))
    done = [f"container {line}" for lines in executor.results.values() for line in lines] + executor.objects_done
    emit(app, plan.to_dict(), done)
    for line in done:
        app.echo(f"  {line}")
    app.echo(f"destroyed deployment {config.globals.deployment_name}; configuration kept in {config.config_dir}")


@click.command("pull")
@_options
@pass_app
def pull_cmd(app: AppContext, plan_only: bool, yes: bool, json_flag: bool) -> None:
    """Pull every image of the enabled services from docker_registry (before an upgrade or on a new host)."""
    from berth.engine import connect
    from berth.lifecycle.maintenance import execute, op_lines, pull_plan
    from berth.state.desired import DesiredState

    app.json = app.json or json_flag
    if is_remote(app.config):
        from berth.lifecycle import hostops

        config = app.config
        pull_plan(config)  # no registry: the same clear error as on one host
        run = new_run(app, "pull", lambda h, f: hostops.pull(config, h, f), facts=False)
        change_many(app, run, None, None, plan_only, yes)
        return
    plan = pull_plan(app.config)
    if not show_and_confirm(app, op_lines(plan), plan_only, yes, plan.has_changes, plan.to_dict(), "pull"):
        return
    done = execute(connect(), plan, DesiredState(plan.deployment), app.config.deployment_dir,
                   progress_printer(app)).objects_done
    emit(app, plan.to_dict(), done)
    app.echo(f"pulled {len(done)} image(s)")


@click.command("cleanup")
@_options
@click.argument("what", type=click.Choice(["containers", "host", "images"]))
@pass_app
def cleanup_cmd(app: AppContext, plan_only: bool, yes: bool, json_flag: bool, what: str) -> None:
    """Remove leftovers: `containers` (exited, kept aside, one-shot remains of this deployment), `host`
    (interfaces/namespaces/rules of services that no longer run), `images` (berth images of this namespace used
    by no container, not the current tag, not a rollback target; dangling ones)."""
    from berth.engine import connect
    from berth.lifecycle import maintenance as m

    app.json = app.json or json_flag
    config = app.config
    client = connect()
    planner = {"containers": m.cleanup_containers_plan, "host": m.cleanup_host_plan,
               "images": m.cleanup_images_plan}[what]
    plan = planner(config, client)
    if not show_and_confirm(app, m.op_lines(plan), plan_only, yes, plan.has_changes, plan.to_dict(),
                            f"cleanup {what}"):
        return
    done = m.execute(client, plan, m.units_of(config), config.deployment_dir, progress_printer(app)).objects_done
    emit(app, plan.to_dict(), done)
    for line in done:
        app.echo(f"  {line}")


def register(group: click.Group) -> None:
    for command in (stop_cmd, destroy_cmd, pull_cmd, cleanup_cmd):
        group.add_command(command)
