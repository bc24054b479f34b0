"""`berth lab up|down|status|kill`: a test lab of several hosts on this machine."""

from __future__ import annotations

import json
import re
import time

import click

from berth.cli.context import AppContext, pass_app
from berth.errors import BerthError
from berth.remote import labplan
from berth.run.events import Status
from berth.run.scheduler import run_graph
from berth.ui.progress import reporter_for

HONESTY = """The hosts share this machine's kernel, /usr and CPUs: the lab is honest for SSH fan-out, per-host
engines and state, real L2/L3 and VXLAN between hosts, and losing a host; not for per-host packages or kernels
(docs/lab.md)."""
WORDS = {Status.CACHED: "ok (already up)", Status.SUCCEEDED: "up"}
name_option = click.option("--name", default=labplan.DEFAULT_NAME, show_default=True,
                           help="Lab name; hosts are <name>1..<name>N, so two labs with other names and CIDRs "
                                "can coexist.")


@click.group("lab", epilog=HONESTY)
def lab_group() -> None:
    """Several hosts on this machine, each with its own Docker engine and sshd, plus an inventory for them.

    Each host is a network namespace on a bridge berth creates (TEST-NET addresses only) with its own mount, UTS
    and PID namespaces, engine (data root, exec root, socket, containerd) and sshd. The machine itself is the
    deployment host, at .1 of the lab's network.
    """


@lab_group.command("up", epilog=HONESTY)
@click.option("--hosts", "count", type=int, default=labplan.DEFAULT_HOSTS, show_default=True,
              help="Number of hosts.")
@click.option("--controllers", type=int, default=None,
              help="Hosts in control (the first ones), for an HA control plane (docs/ha.md); default: 1, or what "
                   "the existing lab has.")
@name_option
@click.option("--cidr", default=labplan.DEFAULT_CIDR, show_default=True,
              help="The lab's network; must lie in 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24.")
@click.option("--registry-port", type=int, default=labplan.DEFAULT_REGISTRY_PORT, show_default=True,
              help="Port of the deployment host's registry at <.1>; the hosts' engines trust it (insecure).")
@click.option("--no-install", is_flag=True, help="Fail naming the missing packages instead of installing them.")
@pass_app
def up_cmd(app: AppContext, count: int, controllers: int | None, name: str, cidr: str, registry_port: int,
           no_install: bool) -> None:
    """Create (or complete) the lab and write its inventory; a healthy lab is left as is."""
    from berth.remote import lab as labmod

    if controllers is None:
        controllers = _recorded_controllers(name)
    lab = labplan.plan_lab(name, count, cidr, registry_port, controllers=controllers)
    _refuse_resize(lab)
    tasks = labmod.up_tasks(lab, install=not no_install)
    started = time.monotonic()
    with reporter_for([t.key for t in tasks], json=app.json, quiet=app.quiet, verbose=app.verbose,
                      words=WORDS) as report:
        result = run_graph(tasks, max_workers=max(2, len(lab.hosts)), on_event=report)
    failed = result.with_status(Status.FAILED)
    if failed:
        err = failed[0].error
        if isinstance(err, BerthError):
            raise err
        raise labplan.LabError(f"{failed[0].key} failed: {failed[0].message}", "re-run with --debug")
    if app.json:
        click.echo(labmod.status_json(lab, labmod.status(lab)))
        return
    app.echo(f"lab {lab.name}: {len(lab.hosts)} host(s) up in {time.monotonic() - started:.1f}s")
    for host in lab.hosts:
        app.echo(f"  {host.name:<10} {host.address!s:<16} {','.join(host.groups)}")
    app.echo(f"inventory: {lab.inventory}   (berth -i {lab.inventory} ...)")
    app.echo(f"ssh:       ssh -F {lab.ssh_config} {lab.hosts[0].name}")
    app.echo(f"registry:  the hosts pull from {lab.registry} (the deployment host, this machine): "
             f"berth registry start --address {lab.machine_address}")
    app.echo("note: the hosts share this machine's kernel, /usr and CPUs (docs/lab.md)")


def _recorded_controllers(name: str) -> int:
    """The controllers of the existing lab `name` (booting a lost host again keeps the layout), else 1."""
    record = labplan.plan_lab(labplan.check_name(name)).record
    if not record.exists():
        return 1
    return labplan.lab_from_json(record.read_text()).controllers


def _refuse_resize(lab: labplan.Lab) -> None:
    """A lab grows (`--hosts` more than it has: the new hosts are added as computes, the others are kept), but
    shrinking it or changing its network would leave hosts behind: ask for down first."""
    if not lab.record.exists():
        return
    old = labplan.lab_from_json(lab.record.read_text())
    grows = len(lab.hosts) >= len(old.hosts) and all(a.groups == b.groups for a, b in zip(old.hosts, lab.hosts))
    if (old.network, old.registry_port) != (lab.network, lab.registry_port) or not grows:
        raise labplan.LabUsageError(
            f"lab {lab.name} exists with {len(old.hosts)} host(s) on {old.network} (registry port "
            f"{old.registry_port})", f"remove it first (berth lab down --name {lab.name}) or use another --name")


@lab_group.command("down")
@name_option
@pass_app
def down_cmd(app: AppContext, name: str) -> None:
    """Remove every trace of the lab: processes, namespaces, links, cgroups, mounts, state. Idempotent."""
    from berth.remote import lab as labmod

    started = time.monotonic()
    try:
        lab = labmod.load_lab(name)
    except labplan.LabUsageError:
        lab = labplan.plan_lab(name, 1)  # nothing recorded: still sweep namespaces and links of that name
    labmod.down(lab)
    app.echo(f"lab {name} removed in {time.monotonic() - started:.1f}s")


@lab_group.command("status")
@name_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
@pass_app
def status_cmd(app: AppContext, name: str, as_json: bool) -> None:
    """Per host: namespace, init, engine, sshd (a real ssh login), address. Exit 1 if a host is not healthy."""
    from berth.remote import lab as labmod

    lab = labmod.load_lab(name)
    found = labmod.status(lab)
    if as_json or app.json:
        click.echo(labmod.status_json(lab, found))
    else:
        fabric = "ok" if labmod.fabric_ok(lab) else "missing (berth lab up rebuilds it)"
        click.echo(f"lab {lab.name} on {lab.network}, machine {lab.machine_address}, fabric {fabric}")
        click.echo(f"inventory {lab.inventory}")
        click.echo(f"  {'host':<10} {'address':<16} {'netns':<6} {'init':<8} {'engine':<16} {'ssh':<4} groups")
        for s in found:
            click.echo(f"  {s.name:<10} {s.address:<16} {_yes(s.netns):<6} {s.init_pid or 'dead'!s:<8} "
                       f"{s.engine or 'down':<16} {_yes(s.ssh):<4} {','.join(s.groups)}")
    if not all(s.healthy for s in found):
        raise click.exceptions.Exit(1)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


@lab_group.command("kill")
@click.argument("host")
@click.option("--name", default=None, help="Lab name (default: HOST without its number).")
@pass_app
def kill_cmd(app: AppContext, host: str, name: str | None) -> None:
    """Lose HOST abruptly: SIGKILL its init (every process of the host dies) and unplug it from the bridge.

    `berth lab up` boots it again with its disk as it was, like a power cycle.
    """
    from berth.remote import lab as labmod

    lab = labmod.load_lab(name or re.sub(r"\d+$", "", host))
    killed = labmod.kill_host(lab, lab.host(host))
    if app.json:
        click.echo(json.dumps({"host": host, "killed": killed}))
    else:
        app.echo(f"{host}: {'killed' if killed else 'was not running'}; unplugged from the lab")


def register(group: click.Group) -> None:
    group.add_command(lab_group)
