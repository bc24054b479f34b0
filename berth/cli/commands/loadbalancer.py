"""`berth loadbalancer show|drain|ready`: this host's HAProxy, through its runtime API on loopback.

Rolling changes over many hosts run `drain` and `ready` on every control host for the host being changed
(berth/remote/deploy.py); an operator can use them too, e.g. before taking a host down for maintenance.
"""

from __future__ import annotations

import json

import click

from berth.cli.context import AppContext, pass_app

PORT_HELP = "Port of HAProxy's runtime API on 127.0.0.1 (haproxy_admin_port)."


@click.group("loadbalancer")
def lb_group() -> None:
    """This host's HAProxy: its servers, and taking a host's servers out of service and back (docs/ha.md)."""


@lb_group.command("show")
@click.option("--port", type=int, default=1985, show_default=True, help=PORT_HELP)
@pass_app
def show_cmd(app: AppContext, port: int) -> None:
    """Every server of every frontend with its state and current sessions."""
    from berth.run import haproxy_api

    rows = haproxy_api.servers(port)
    if app.json:
        click.echo(json.dumps([{"frontend": r.frontend, "server": r.server, "status": r.status,
                                "sessions": r.sessions} for r in rows]))
        return
    for r in rows:
        app.echo(f"{r.frontend:<24} {r.server:<16} {r.status:<10} {r.sessions}")


@lb_group.command("drain")
@click.option("--port", type=int, default=1985, show_default=True, help=PORT_HELP)
@click.option("--wait", "patience", type=float, default=20.0, show_default=True,
              help="Seconds to wait for the servers' current requests to finish.")
@click.argument("servers", nargs=-1, required=True)
@pass_app
def drain_cmd(app: AppContext, port: int, patience: float, servers: tuple[str, ...]) -> None:
    """No new requests to SERVERS (FRONTEND/HOST, e.g. keystone_api/ctl1); waits for the current ones."""
    from berth.run import haproxy_api

    changed = haproxy_api.set_state(port, servers, "drain")
    busy = haproxy_api.wait_idle(port, changed, patience)
    if app.json:
        click.echo(json.dumps({"drained": changed, "busy": busy}))
        return
    app.echo(f"drained {len(changed)} server(s)" + (f"; still busy after {patience:.0f}s: {', '.join(busy)}"
                                                     if busy else ""))


@lb_group.command("ready")
@click.option("--port", type=int, default=1985, show_default=True, help=PORT_HELP)
@click.option("--wait", "patience", type=float, default=0.0, show_default=True,
              help="Seconds to wait for the servers to pass their health checks (UP) again.")
@click.argument("servers", nargs=-1, required=True)
@pass_app
def ready_cmd(app: AppContext, port: int, patience: float, servers: tuple[str, ...]) -> None:
    """SERVERS take requests again (as soon as their health checks pass)."""
    from berth.run import haproxy_api

    changed = haproxy_api.set_state(port, servers, "ready")
    down = haproxy_api.wait_up(port, changed, patience) if patience > 0 else []
    if app.json:
        click.echo(json.dumps({"ready": changed, "not_up": down}))
        return
    app.echo(f"{len(changed)} server(s) ready" + (f"; not up after {patience:.0f}s: {', '.join(down)}"
                                                  if down else ""))


def register(group: click.Group) -> None:
    group.add_command(lb_group)
