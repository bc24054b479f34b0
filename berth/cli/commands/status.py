"""`berth status` and `berth logs`."""

from __future__ import annotations

import json

import click

from berth.cli.context import AppContext, pass_app
from berth.errors import NotFoundError


@click.command("status")
@click.option("--json", "json_flag", is_flag=True, help="Emit JSON.")
@click.argument("services", nargs=-1)
@pass_app
def status_cmd(app: AppContext, json_flag: bool, services: tuple[str, ...]) -> None:
    """Per service and container: state, health, image, uptime, and drift from what a deploy would make."""
    from berth.cli.many import is_remote, status_many
    from berth.engine import connect
    from berth.lifecycle.deploy import check_services
    from berth.lifecycle.show import table
    from berth.lifecycle.status import incidents, status_notes, status_rows

    config = app.config
    if is_remote(config):
        status_many(app, check_services(config, services), json_flag)
        return
    engine = connect()
    rows = status_rows(config, engine, check_services(config, services))
    if app.json or json_flag:  # the rows only: the list consumers read
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    notes = status_notes(config, engine, rows)
    lines = table([(r.service, r.name, r.state, r.health, r.image, r.image_id, r.uptime, str(r.restarts),
                    r.drift or "-") for r in rows],
                  ("SERVICE", "CONTAINER", "STATE", "HEALTH", "IMAGE", "ID", "UPTIME", "RESTARTS", "DRIFT"))
    for line in lines:
        click.echo(line)
    down = incidents(rows)
    if down:  # which container was down or restarted, how it ended, what brings it back
        click.echo("\ncontainers down or restarted by the engine:")
        for line in down:
            click.echo(f"  {line}")
    for note in notes:  # service.yml `status:` probes, e.g. a storage cluster's health
        click.echo(f"\n{note.service} ({note.container}{'' if note.ok else ', probe failed'}):")
        for text in note.lines:
            click.echo(f"  {text}")
    drifted = [r for r in rows if r.drift]
    if not app.quiet:
        click.echo(f"\n{len(drifted)} container(s) differ from the configuration"
                   + (": run `berth deploy` to converge" if drifted else ""))


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--tail", "tail", default="all", show_default=True, help="Number of lines from the end.")
@click.option("--deployment", default=None,
              help="The deployment's name, read without configuration (what the deployment host passes when it "
                   "reads a log through Ansible; it masks the secrets itself).")
@click.option("--all", "everything", is_flag=True,
              help="Every host's and container's lines from the central logs (enable_central_logging).")
@click.option("--since", default=None, help="With --all: lines from this time on: 30s, 10m, 2h, 1d or a UTC time.")
@click.option("--grep", "grep", default=None, help="With --all: only lines this regular expression finds.")
@click.option("--host", "hosts", multiple=True, help="With --all: only this host's lines (repeatable).")
@click.option("--service", "services", multiple=True, help="With --all: only this service's lines (repeatable).")
@click.option("--log-dir", default=None, hidden=True, help="The monitoring host's log_dir (passed through Ansible).")
@click.argument("container", required=False)
@pass_app
def logs_cmd(app: AppContext, follow: bool, tail: str, deployment: str | None, everything: bool,
             since: str | None, grep: str | None, hosts: tuple[str, ...], services: tuple[str, ...],
             log_dir: str | None, container: str | None) -> None:
    """A container's log (the engine log; the same lines are under /var/log/berth/<service>/), secrets masked.
    Over many hosts (-i) name it HOST/CONTAINER. `--all`: the central logs of every host (enable_central_logging),
    searched with --since, --grep, --host and --service."""
    from berth.cli.many import is_remote

    if everything:
        from berth.cli.commands.logs_all import logs_all

        logs_all(app, deployment, log_dir, since, grep, hosts, services)
        return
    if container is None:
        raise click.UsageError("name a CONTAINER (see `berth status`), or give --all for the central logs")
    count = int(tail) if tail.isdigit() else None  # None: all
    if deployment is None and is_remote(app.config):
        _logs_many(app, container, count, follow)
        return
    secrets = _secrets(app) if deployment is None else _secrets_if_configured(app)
    _print_log(deployment or app.config.globals.deployment_name, container, count, follow, secrets)


def _secrets(app: AppContext) -> set[str]:
    from berth.config.passwords import secret_values

    return set(secret_values(app.config.passwords))


def _secrets_if_configured(app: AppContext) -> set[str]:
    """A host of an inventory has no passwords file: nothing to mask with there (the deployment host masks)."""
    from berth.errors import BerthError

    try:
        return _secrets(app)
    except BerthError:
        return set()


def _print_log(deployment: str, container: str, count: int | None, follow: bool, secrets: set[str]) -> None:
    from berth.config.passwords import mask
    from berth.engine import connect, labels

    engine = connect()
    found = engine.containers({labels.DEPLOYMENT: deployment, labels.CONTAINER: container})
    if not found:
        found = [c for c in engine.containers({labels.DEPLOYMENT: deployment}) if c.name == container]
    main = [c for c in found if c.labels.get(labels.ROLE, "service") == "service" and not c.name.endswith("--aside")]
    if not main:
        raise NotFoundError(f"no container `{container}` in deployment {deployment}",
                            "see `berth status` for the container names")
    buffer = b""
    for chunk in engine.stream_logs(main[0].name, count, follow):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            click.echo(mask(line.decode(errors="replace"), secrets))
    if buffer:
        click.echo(mask(buffer.decode(errors="replace"), secrets))


def _logs_many(app: AppContext, target: str, count: int | None, follow: bool) -> None:
    """HOST/CONTAINER read on its host through Ansible (`berth logs` there), masked here with the passwords."""
    from pathlib import Path

    from berth.config.passwords import mask
    from berth.errors import RemoteError
    from berth.lifecycle.hostplans import inventory_hosts
    from berth.remote import commands

    if follow:
        raise click.UsageError("-f cannot follow a log through Ansible; run `berth logs -f CONTAINER` on the host")
    host, container = commands.split_target(target, inventory_hosts(app.config))
    assert app.inventory is not None
    answer = commands.logs(app.config, Path(app.inventory), host, container, count)
    if not answer.ok:
        raise RemoteError(f"{host}: {answer.message}", "check the container name with `berth -i INVENTORY status`",
                          details=answer.details)
    click.echo(mask(str(answer.data), _secrets(app)).rstrip("\n"))


@click.command("post-deploy")
@pass_app
def postdeploy_cmd(app: AppContext) -> None:
    """Write admin-openrc.sh and clouds.yaml (mode 0600) into the config directory for the openstack client."""
    from berth.lifecycle.postdeploy import CLOUD_NAME, write_credentials

    paths = write_credentials(app.config)
    if app.json:
        click.echo(json.dumps({"files": [str(p) for p in paths], "cloud": CLOUD_NAME}))
        return
    for path in paths:
        app.echo(f"wrote {path} (mode 0600)")
    app.echo(f"use it: `. {paths[0]}; openstack token issue` or `OS_CLOUD={CLOUD_NAME} openstack ...` "
             f"from {paths[1].parent}")


def register(group: click.Group) -> None:
    group.add_command(status_cmd)
    group.add_command(logs_cmd)
    group.add_command(postdeploy_cmd)
