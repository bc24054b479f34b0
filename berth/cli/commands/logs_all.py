"""`berth logs --all`: the central logs of every host (enable_central_logging), searched and secrets masked.

On the all-in-one the store is this host's; over many hosts it is read on the first monitoring host that answers
(each keeps a full copy) through Ansible, by `berth logs --all --deployment NAME --log-dir DIR --json` there,
and masked here, where the passwords are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from berth.cli.context import AppContext
from berth.errors import NotFoundError, RemoteError


def logs_all(app: AppContext, deployment: str | None, log_dir: str | None, since: str | None, grep: str | None,
             hosts: Sequence[str], services: Sequence[str]) -> None:
    from berth.lifecycle.central_logs import parse_since

    try:
        when = parse_since(since) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    try:
        pattern = re.compile(grep) if grep else None
    except re.error as exc:
        raise click.BadParameter(f"`{grep}` is not a regular expression: {exc}", param_hint="--grep") from None
    if deployment is not None:  # on a monitoring host, for the deployment host: no configuration here
        _print_store(app, Path(log_dir or "/var/log/berth"), when, pattern, hosts, services, set())
        return
    _check_enabled(app)
    from berth.cli.many import is_remote

    if is_remote(app.config):
        _print_remote(app, when, grep, hosts, services)
        return
    _print_store(app, Path(app.config.globals.log_dir), when, pattern, hosts, services, secrets_of(app))


def secrets_of(app: AppContext) -> set[str]:
    from berth.cli.commands.status import _secrets  # the one masking set of `berth logs`

    return _secrets(app)


def _check_enabled(app: AppContext) -> None:
    from berth.config.globals import is_enabled

    if not is_enabled(app.config.globals, "central-logging"):
        raise NotFoundError("central logging is off in this deployment: there is no central log store",
                            "set `enable_central_logging: true` in globals.yml and run `berth deploy`; "
                            "`berth logs CONTAINER` reads one container's log meanwhile")


def _print_store(app: AppContext, log_dir: Path, since: datetime | None, pattern: re.Pattern[str] | None,
                 hosts: Sequence[str], services: Sequence[str], secrets: set[str]) -> None:
    from berth.config.passwords import mask
    from berth.lifecycle.central_logs import search, store_dir

    lines = search(store_dir(log_dir), since, pattern, set(hosts), set(services))
    if app.json:
        click.echo(json.dumps([{**x.data(), "line": mask(x.text, secrets)} for x in lines]))
        return
    for line in lines:
        click.echo(mask(line.render(), secrets))


def _print_remote(app: AppContext, since: datetime | None, grep: str | None, hosts: Sequence[str],
                  services: Sequence[str]) -> None:
    from berth.config.passwords import mask
    from berth.lifecycle.central_logs import LogLine
    from berth.remote import commands

    assert app.inventory is not None
    answer = commands.central_logs(app.config, Path(app.inventory), since, grep, hosts, services)
    if not answer.ok:
        raise RemoteError(f"{answer.host}: {answer.message}", "check the monitoring hosts with `berth status`",
                          details=answer.details)
    secrets = secrets_of(app)
    try:
        rows = json.loads(str(answer.data))
    except ValueError:
        raise RemoteError(f"{answer.host}: the central logs came back unreadable ({len(str(answer.data))} "
                          "characters)", "narrow the search with --since, --grep, --host or --service") from None
    if app.json:
        click.echo(json.dumps([{**row, "line": mask(row["line"], secrets)} for row in rows]))
        return
    for row in rows:
        line = LogLine(datetime.fromisoformat(row["time"]), row["host"], row["service"], row["container"],
                       row["line"])
        click.echo(mask(line.render(), secrets))
