"""`berth backup [--list]` and `berth restore BACKUP`: the cloud's databases and configuration (docs/operations.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from berth.cli.context import AppContext, pass_app


def _size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KiB"


@click.command("backup")
@click.option("--list", "list_only", is_flag=True, help="Only list the backups (newest last) with their sizes.")
@pass_app
def backup_cmd(app: AppContext, list_only: bool) -> None:
    """Back up every database of the enabled services (consistent snapshots) and the configuration directory,
    mode 0600; keep the newest `backup_retention` backups."""
    from berth.engine import connect
    from berth.lifecycle import cloud_backup

    config = app.config
    removed = []
    if not list_only:
        started = time.monotonic()
        inventory = Path(app.inventory) if app.inventory else None
        taken = cloud_backup.take(config, connect(), lambda line: app.echo(f"  {line}"), inventory)
        removed = cloud_backup.prune(config, config.globals.backup_retention)
        app.echo(f"backup {taken.name}: {len(taken.databases)} database(s), {_size(taken.size)} in "
                 f"{time.monotonic() - started:.1f}s ({taken.path})")
        for old in removed:
            app.echo(f"removed {old.name} (backup_retention: {config.globals.backup_retention})")
    items = cloud_backup.listing(config)
    if app.json:
        click.echo(json.dumps({"backups": [{"name": b.name, "path": str(b.path), "taken_at": b.taken_at,
                                            "size": b.size, "databases": b.databases} for b in items],
                               "removed": [b.name for b in removed]}, indent=2))
        return
    if list_only:
        for item in items:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(item.taken_at))
            app.echo(f"{item.name:<24} {when}  {_size(item.size):>10}  {len(item.databases)} database(s)")
        if not items:
            app.echo("no backups yet: `berth backup` takes one")


@click.command("restore")
@click.argument("backup")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def restore_cmd(app: AppContext, backup: str, yes: bool) -> None:
    """Replace every database with BACKUP's (a name `berth backup --list` shows, or its path): onto a fresh
    deployment with the same configuration. The databases' current rows are lost."""
    from berth.engine import connect
    from berth.lifecycle import cloud_backup

    config = app.config
    item = cloud_backup.find(config, backup)
    if not yes:
        click.confirm(f"replace {len(item.databases)} database(s) of {config.globals.deployment_name} with "
                      f"{item.name}'s?", abort=True)
    started = time.monotonic()
    restored = cloud_backup.restore(config, connect(), item, lambda line: app.echo(f"  {line}"))
    if app.json:
        click.echo(json.dumps({"backup": item.name, "restored": restored}))
        return
    app.echo(f"restored {len(restored)} database(s) from {item.name} in {time.monotonic() - started:.1f}s")


def register(group: click.Group) -> None:
    group.add_command(backup_cmd)
    group.add_command(restore_cmd)
