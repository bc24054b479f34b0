"""`berth config ...`: inspect and check the operator configuration."""

from __future__ import annotations

import json

import click

from berth.cli.context import AppContext, pass_app
from berth.errors import ExitCode


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


def register(group: click.Group) -> None:
    group.add_command(config_group)
