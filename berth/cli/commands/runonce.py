"""`berth init-runonce`: images, flavors, networks, router, security rules and a keypair for a new cloud."""

from __future__ import annotations

import json

import click

from berth.cli.context import AppContext, pass_app


@click.command("init-runonce")
@click.option("--boot-test-server", is_flag=True,
              help="Also boot `berth-test` from the test guest and wait for its console marker.")
@click.option("--json", "json_flag", is_flag=True, help="Emit the result as JSON.")
@pass_app
def init_runonce_cmd(app: AppContext, boot_test_server: bool, json_flag: bool) -> None:
    """Make the deployed cloud usable (safe to re-run: finds what exists, creates what is missing)."""
    from berth.lifecycle.init_runonce import init_runonce

    as_json = app.json or json_flag
    result = init_runonce(app.config, boot=boot_test_server,
                          progress=(lambda m: None) if as_json else app.echo)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    for item in result.items:
        app.echo(f"  {item.action:8} {item.kind:20} {item.name}")
    server = result.server
    if server is not None:
        took = f"ACTIVE {server.active_seconds:.1f}s after create" if server.active_seconds is not None \
            else "already running"
        app.echo(f"\ntest server {server.name}: id {server.id}, IP {server.ip or '?'} ({took}); console shows "
                 f"the marker{' and its own instance id' if server.instance_id_seen else ''}")
    app.echo("\nuse the cloud:")
    app.echo(f"  . {result.openrc}; openstack server list     (or OS_CLOUD=berth-admin with {result.clouds_yaml})")
    if result.horizon_url:
        app.echo(f"  Horizon: {result.horizon_url}  (user admin)")
    app.echo(f"  admin password: key {result.password_key} in {result.password_file}")


def register(group: click.Group) -> None:
    group.add_command(init_runonce_cmd)
