"""`berth genpwd` and `berth mergepwd`: secrets, never printed."""

from __future__ import annotations

import json
from pathlib import Path

import click

from berth.cli.context import AppContext, pass_app
from berth.config.passwords import PASSWORDS_FILE, genpwd, mergepwd, service_secret_specs
from berth.errors import ConfigError


def _ensure_dir(path: Path) -> None:
    """Create the configuration directory 0700: it will hold secrets."""
    if not path.is_dir():
        try:
            path.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot create directory: {exc.strerror}",
                              "choose another --config-dir or run as a user that may create it") from exc


@click.command("genpwd")
@click.option("--passwords", "passwords_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Secrets file to fill (default: <config-dir>/passwords.yml).")
@pass_app
def genpwd_cmd(app: AppContext, passwords_file: Path | None) -> None:
    """Fill every empty secret in passwords.yml with a strong random value.

    Existing values are never changed; the file is written atomically with mode 0600, and a file readable by
    other users is fixed (with a warning). Values are never printed.
    """
    path = passwords_file or app.config_dir / PASSWORDS_FILE
    _ensure_dir(path.parent)
    result = genpwd(path, service_secret_specs())
    if result.fixed_mode is not None:
        click.secho(f"warning: {path} had mode {result.fixed_mode:04o} (readable by other users); now 0600",
                    fg="yellow", err=True)
    if app.json:
        click.echo(json.dumps({"path": str(path), "filled": result.filled, "kept": result.kept,
                               "created": result.created, "fixed_mode": result.fixed_mode}))
        return
    verb = "created" if result.created else ("updated" if result.written else "unchanged")
    app.echo(f"{path}: {verb}; {len(result.filled)} secret(s) generated, {result.kept} kept")
    if app.verbose and result.filled:
        app.echo("generated: " + ", ".join(result.filled))


@click.command("mergepwd")
@click.option("--old", "old", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="passwords.yml of the running deployment (its values win).")
@click.option("--new", "new", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="passwords.yml generated for the new release (supplies new keys).")
@click.option("--final", "final", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write the merged file (mode 0600; may be --old or --new).")
@pass_app
def mergepwd_cmd(app: AppContext, old: Path, new: Path, final: Path) -> None:
    """Merge secrets for an upgrade: old values win, new keys are added, keys gone from NEW are dropped."""
    result = mergepwd(old, new, final)
    if app.json:
        click.echo(json.dumps({"final": str(final), "kept": result.kept, "added": result.added,
                               "dropped": result.dropped}))
        return
    app.echo(f"{final}: {len(result.kept)} secret(s) kept from {old}, {len(result.added)} new from {new}")
    if result.dropped:
        app.echo(f"note: dropped (not in {new}): " + ", ".join(result.dropped))


def register(group: click.Group) -> None:
    group.add_command(genpwd_cmd)
    group.add_command(mergepwd_cmd)
