"""`berth -i INVENTORY remove-host HOST`: take a compute or network host out of the cloud (berth.lifecycle.remove_host)."""

from __future__ import annotations

import sys

import click

from berth.cli.context import AppContext, pass_app
from berth.errors import Aborted, ConfigError


@click.command("remove-host")
@click.argument("host")
@click.option("--migrate", is_flag=True, help="Cold-migrate the servers running on HOST to other computes first.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def remove_host_cmd(app: AppContext, host: str, migrate: bool, yes: bool) -> None:
    """Remove HOST from the cloud: its servers (refused unless --migrate), its nova service and network agents,
    and its containers, volumes and host objects. Then delete HOST from the inventory yourself.

    Safe to run again: what is already gone is skipped.
    """
    from berth.cli.many import is_remote
    from berth.lifecycle import remove_host
    from berth.lifecycle.init_runonce import connect_cloud

    config = app.config
    inventory = config.inventory
    if inventory is None or host not in inventory.hosts:
        raise ConfigError(f"remove-host {host}: no such host in the inventory {app.inventory or '(built-in)'}",
                          "name a host of the inventory (keep it there until remove-host has finished)")
    if not is_remote(config):
        raise ConfigError(f"remove-host {host}: the inventory has no host reached through Ansible",
                          "remove-host takes a host out of a many-hosts cloud; the all-in-one has `berth destroy`")
    conn = connect_cloud(config)
    found = remove_host.find(conn, host)
    remove_host.check(found, migrate)
    app.echo(f"remove {host} from deployment {config.globals.deployment_name}:")
    for line in found.describe() or ["nothing of the cloud runs there"]:
        app.echo(f"  {line}")
    if not yes and not app.json and sys.stdin.isatty() and not click.confirm(f"remove {host}?", default=True):
        raise Aborted("remove-host declined; nothing was changed")
    remove_host.disable_compute(conn, found, app.echo)
    if migrate:
        remove_host.migrate_away(conn, found, app.echo)
    _remove_containers(app, host)
    remove_host.forget(conn, host, app.echo)
    app.echo(f"{host} removed from the cloud; now delete it from {app.inventory}")


def _remove_containers(app: AppContext, host: str) -> None:
    """The host's part of `destroy` (containers, volumes, host objects, state), through Ansible like every
    many-hosts change (`--json` prints that run's document)."""
    from berth.cli.many import change_many, new_run
    from berth.lifecycle import hostops

    config = app.config
    run = new_run(app, "destroy", lambda h, f: hostops.destroy(config, h, f, False))
    change_many(app, run, host, None, False, True)


def register(group: click.Group) -> None:
    group.add_command(remove_host_cmd)
