"""`berth config ...`: inspect and check the operator configuration."""

from __future__ import annotations

import json

import click

from berth.cli.context import AppContext, pass_app
from berth.config.globals import is_enabled
from berth.errors import ConfigError, ExitCode, NotFoundError
from berth.services.registry import enable_key


@click.group("config")
def config_group() -> None:
    """Check and inspect the operator configuration (globals.yml, passwords.yml, inventory, overrides)."""


@config_group.command("validate")
@click.option("--json", "json_output", is_flag=True, help='Print {"ok": bool, "problems": [...]} as JSON.')
@pass_app
@click.pass_context
def validate(ctx: click.Context, app: AppContext, json_output: bool) -> None:
    """Check every configuration file and report ALL problems at once, each as file:line.

    Exit status 3 when any problem is found.
    """
    from berth.config.validate import validate_config

    report = validate_config(app.config_dir, app.inventory)
    if json_output or app.json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        _print_report(app, report.problems, report.warnings, report.notes)
    if not report.ok:
        ctx.exit(int(ExitCode.CONFIG))


def _print_report(app: AppContext, problems: list[str], warnings: list[str], notes: list[str]) -> None:
    for line in problems:
        click.secho(f"error: {line}", fg="red", err=True)
    for line in warnings:
        click.secho(f"warning: {line}", fg="yellow", err=True)
    for line in notes:
        app.echo(f"note: {line}")
    if problems:
        click.echo(f"{len(problems)} problem(s) in {app.config_dir}", err=True)
    else:
        app.echo(f"configuration in {app.config_dir} is valid")


@config_group.command("show")
@click.argument("service")
@click.option("--container", "container_key", default=None, help="Only this container of the service.")
@click.option("--file", "file_name", default=None, help="Only this file (e.g. keystone.conf).")
@pass_app
def show(app: AppContext, service: str, container_key: str | None, file_name: str | None) -> None:
    """Print the final files SERVICE's containers get (overrides merged), with every secret masked."""
    from berth.config.passwords import mask, secret_values
    from berth.lifecycle.render import render_desired
    from berth.state.model import load_service

    load_service(service)  # unknown service -> ConfigError listing the known ones
    config = app.config
    if not is_enabled(config.globals, service):
        raise ConfigError(f"service `{service}` is not enabled", f"set {enable_key(service)}: true in globals.yml")
    desired = render_desired(config, images={})
    secrets = secret_values(config.passwords)
    shown = {
        c.key: {name: mask(text, secrets) for name, text in sorted(c.files.items())
                if file_name in (None, name)}
        for c in desired.containers
        if c.service == service and container_key in (None, c.key)
    }
    if not any(shown.values()):
        raise NotFoundError(f"nothing matches service {service}, container {container_key}, file {file_name}",
                            f"`berth config show {service}` lists every container and file")
    if app.json:
        click.echo(json.dumps(shown, indent=2))
        return
    for key, files in shown.items():
        for name, text in files.items():
            click.secho(f"# ---- {key}/{name}", fg="cyan")
            click.echo(text.rstrip("\n"))


def register(group: click.Group) -> None:
    group.add_command(config_group)
