"""`berth check-host --needs JSON`: this host's half of `berth -i INVENTORY prechecks`.

The deployment host decides what each host needs (`berth.lifecycle.hostchecks.needs_of`) and runs this on the
host through Ansible; it reads no configuration, so it works on a host that has only berth and an engine.
"""

from __future__ import annotations

import json
import socket

import click

from berth.cli.context import AppContext, pass_app
from berth.errors import EngineError, PrecheckError


@click.command("check-host")
@click.option("--needs", "needs_json", required=True, help="What this host must provide, as the deployment host "
              "wrote it (JSON: ports, devices, registry, state directory).")
@click.option("--json", "json_flag", is_flag=True, help="Print the checks as JSON.")
@pass_app
def check_host_cmd(app: AppContext, needs_json: str, json_flag: bool) -> None:
    """Check this host for a deploy: engine, registry, ports, devices, disk, memory (no configuration read)."""
    from berth.engine import connect
    from berth.lifecycle.hostchecks import check, loads
    from berth.state.observe import observe

    needs = loads(needs_json)
    engine, error, running = None, "", set()
    try:
        engine = connect()
    except EngineError as err:
        error = err.message
    if engine is not None:
        from pathlib import Path

        actual = observe(engine, needs.deployment, Path(needs.deployment_dir))
        running = {c.key for c in actual.containers if c.running and not c.aside}
    checks = check(needs, engine, error, running)
    bad = [c for c in checks if not c.ok and not c.warning]
    if app.json or json_flag:
        click.echo(json.dumps({"host": needs.host, "hostname": socket.gethostname(), "ok": not bad,
                               "checks": [c.__dict__ for c in checks]}))
    else:
        for c in checks:
            app.echo(f"{'ok  ' if c.ok else 'FAIL'}  {c.name:<18} {c.message}")
    if bad:
        raise PrecheckError(f"{len(bad)} check(s) failed on {needs.host}: {', '.join(c.name for c in bad)}",
                            "apply the fixes shown", details=[f"{c.name}: {c.fix}" for c in bad])


def register(group: click.Group) -> None:
    group.add_command(check_host_cmd)
