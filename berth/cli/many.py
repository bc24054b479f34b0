"""The terminal side of commands over many hosts: one live row per host, per-host plans, a per-host summary.

Used by `berth -i INVENTORY deploy | reconfigure | upgrade | rollback | stop | destroy | pull | status` when the
inventory has hosts berth reaches through Ansible (see `berth.remote.deploy` for what happens and in which order).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from berth.cli.context import AppContext
from berth.config.loader import Config
from berth.errors import Aborted, DeployError
from berth.run.events import Event, EventKind, Status

# report status -> how the live row ends
FINAL = {"planned": Status.SUCCEEDED, "unchanged": Status.CACHED, "deployed": Status.SUCCEEDED,
         "applied": Status.SUCCEEDED, "skipped": Status.SKIPPED, "failed": Status.FAILED, "unreachable": Status.FAILED}
PLAN_WORDS = {Status.SUCCEEDED: "planned", Status.CACHED: "up to date", Status.FAILED: "failed"}
APPLY_WORDS = {Status.SUCCEEDED: "deployed", Status.CACHED: "unchanged", Status.SKIPPED: "skipped"}


def many_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--limit` and `--serial`: which inventory hosts, and how many at a time (rolling changes)."""
    func = click.option("--serial", type=click.IntRange(min=1), default=None, metavar="N",
                        help="Many hosts: change at most N hosts at a time (within each wave).")(func)
    return click.option("--limit", default=None, metavar="HOST|GROUP[,...]",
                        help="Many hosts: only these inventory hosts or groups.")(func)


def refuse_local(limit: str | None, serial: int | None) -> None:
    if limit or serial:
        raise click.UsageError("--limit and --serial need an inventory of other hosts (-i INVENTORY)")


def is_remote(config: Config) -> bool:
    """Whether the inventory has a host running something that berth reaches through Ansible (not local)."""
    from berth.remote.targets import services_by_host

    inventory = config.inventory
    if inventory is None or inventory.is_all_in_one:
        return False
    return any(not inventory.hosts[h].is_local for h in services_by_host(config) if h in inventory.hosts)


def host_view(sink: Callable[[Event], None], statuses: Callable[[str], str]) -> Callable[[str, str, str], None]:
    """Turn berth.remote.deploy's progress calls into scheduler events, so the usual reporters draw them."""
    def tell(host: str, phase: str, text: str) -> None:
        if phase in ("observe", "apply"):
            sink(Event(EventKind.STARTED, host, Status.RUNNING, text))
        else:
            sink(Event(EventKind.FINISHED, host, FINAL.get(statuses(host), Status.FAILED), text))
    return tell


def deploy_many(app: AppContext, selected: list[str] | None, limit: str | None, serial: int | None,
                plan_only: bool, yes: bool) -> None:
    """Observe and plan every targeted host, show the plans, confirm, apply wave by wave, report per host."""
    from berth.remote.deploy import Run

    assert app.inventory is not None
    change_many(app, Run(app.config, Path(app.inventory), selected), limit, serial, plan_only, yes)


def new_run(app: AppContext, operation: str, planner: Any, services: list[str] | None = None,
            facts: bool = True, config: Config | None = None) -> Any:
    """A many-hosts run of `operation` with its per-host planner (`berth.lifecycle.hostops`); `config` when it
    differs from the loaded one (upgrade: another image tag)."""
    from berth.remote.deploy import Run

    assert app.inventory is not None
    return Run(config or app.config, Path(app.inventory), services, operation=operation, planner=planner,
               facts=facts, reverse=operation in ("stop", "destroy"))


def change_many(app: AppContext, run: Any, limit: str | None, serial: int | None, plan_only: bool, yes: bool,
                pull_first: bool = False) -> None:
    """Observe every targeted host, plan each here, show the plans, confirm once, apply wave by wave (reversed
    for stop and destroy), report per host. `pull_first` (upgrade): every host pulls its new images before any
    host changes a container; a host that cannot pull stops the run with nothing changed."""
    from berth.remote.deploy import apply_all, plan_all, targeted_hosts

    hosts = targeted_hosts(run.config, run.services, limit)
    plans = _with_view(app, run, hosts, PLAN_WORDS, lambda: plan_all(run, hosts))
    _show_plans(app, run, hosts)
    changing = [h for h, p in plans.items() if p.plan.has_changes]
    if plan_only or not changing:
        _finish(app, run, hosts, applied=False)
        return
    if not yes and not app.json and sys.stdin.isatty() and not click.confirm(
            f"apply these {run.operation} plans on {len(changing)} host(s)?", default=True):
        raise Aborted(f"{run.operation} declined; nothing was changed")
    from berth.remote.deploy import DONE

    words = {**APPLY_WORDS, Status.SUCCEEDED: DONE.get(run.operation, "applied")}
    if pull_first and not _with_view(app, run, changing, words, lambda: pull_everywhere(run, plans)):
        _finish(app, run, hosts, applied=False)
        return
    _with_view(app, run, changing, words, lambda: apply_all(run, plans, serial))
    _finish(app, run, hosts, applied=True)


def pull_everywhere(run: Any, plans: dict[str, Any]) -> bool:
    """Each host pulls the images its plan needs, all hosts at once; False (and every host reported) when one
    could not: nothing has been stopped anywhere yet."""
    import dataclasses
    import time

    from berth.plan.model import Operation, Plan
    from berth.remote.deploy import HostReport, apply_all

    pulls = {}
    for host, hp in plans.items():
        needed = tuple(o for o in hp.plan.objects if o.action == "pull")
        if needed and hp.plan.has_changes:
            pulls[host] = dataclasses.replace(hp, plan=Plan(hp.deployment, objects=needed, operation=Operation.PULL,
                                                            title="images first:"), credentials={}, keystone={})
    if not pulls:
        return True
    pull_run = dataclasses.replace(run, operation="pull", reports={h: run.reports[h] for h in pulls}, timings={},
                                   reverse=False)
    started = time.monotonic()
    apply_all(pull_run, pulls, None, in_waves=False)
    run.timings["pull images"] = time.monotonic() - started
    failed = sorted(h for h in pulls if not pull_run.reports[h].ok)
    for host, plan in plans.items():
        if host in failed:
            report = pull_run.reports[host]
            report.message = f"images not pulled: {report.message}"
            run.reports[host] = dataclasses.replace(report, plan=plan)
        elif failed and plan.plan.has_changes:
            run.reports[host] = HostReport(host, "skipped", f"not changed: {', '.join(failed)} could not pull its "
                                           "images (nothing was stopped anywhere)", plan=plan)
        if plan.plan.has_changes:
            run.tell(host, "done" if failed else "apply", run.reports[host].message)
    return not failed


def _with_view(app: AppContext, run: Any, keys: Sequence[str], words: dict[Status, str],
               work: Callable[[], Any]) -> Any:
    from berth.ui.progress import reporter_for

    with reporter_for(list(keys), json=app.json, quiet=app.quiet, verbose=app.verbose, words=words) as sink:
        run.progress = host_view(sink, lambda h: run.reports[h].status if h in run.reports else "failed")
        try:
            return work()
        finally:
            run.progress = None


def _show_plans(app: AppContext, run: Any, hosts: Sequence[str]) -> None:
    for host in hosts:
        report = run.reports[host]
        if report.plan is None or not report.plan.plan.has_changes:
            continue
        app.echo(f"=== host {host}")
        for line in lines_of(report.plan.plan):
            app.echo(line)
        app.echo()


def lines_of(plan: Any) -> list[str]:
    """A plan as its own command shows it (the same lines as on one host)."""
    from berth.lifecycle import maintenance, rollback, show, upgrade
    from berth.plan.model import Operation

    op = plan.operation
    if op is Operation.UPGRADE:
        return upgrade.plan_lines(plan)
    if op is Operation.ROLLBACK:
        return rollback.plan_lines(plan)
    if op in (Operation.DEPLOY, Operation.RECONFIGURE):
        return show.plan_lines(plan, verbose=False)
    return maintenance.op_lines(plan)


def _finish(app: AppContext, run: Any, hosts: Sequence[str], applied: bool) -> None:
    """One line per host (and the JSON document), then an error naming every host that failed."""
    from berth.remote.deploy import items

    reports = [run.reports[h] for h in hosts]
    if app.json:
        click.echo(json.dumps({"deployment": run.config.globals.deployment_name, "operation": run.operation,
                               "applied": applied,
                               "ok": all(r.ok for r in reports), "timings": _rounded(run.timings),
                               "hosts": [r.to_dict() for r in reports], "items": items(reports)}, indent=2))
    for report in reports:
        app.echo(f"{report.host:<20} {report.status:<12} {report.message}")
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in run.timings.items())
    app.echo(f"hosts: {len(reports)}; {timing}")
    bad = [r for r in reports if not r.ok]
    if bad:
        details = [f"{r.host}: {r.message}" + "".join(f"\n    {line}" for line in r.details) for r in bad]
        raise DeployError(f"{len(bad)} of {len(reports)} host(s) did not finish: {', '.join(r.host for r in bad)}",
                          f"fix what is named above, then run `berth -i {app.inventory} {run.operation}` again: "
                          "hosts already done plan nothing, the others are finished", details=details)


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in timings.items()}


def status_many(app: AppContext, selected: list[str] | None, json_flag: bool) -> None:
    """`berth -i INVENTORY status`: every host observed through Ansible, one table; hosts not reached named."""
    from berth.errors import BerthError
    from berth.lifecycle.show import table
    from berth.lifecycle.status import rows_of
    from berth.remote.deploy import Run, plan_all, targeted_hosts

    assert app.inventory is not None
    run = Run(app.config, Path(app.inventory), selected)
    hosts = targeted_hosts(app.config, selected, None)
    plans = plan_all(run, hosts)
    rows = [(host, row) for host in hosts if host in plans for row in rows_of(plans[host])]
    missing = [run.reports[h] for h in hosts if h not in plans]
    if app.json or json_flag:
        click.echo(json.dumps({"hosts": [{"host": r.host, "status": r.status, "message": r.message} for r in missing],
                               "containers": [{"host": h, **r.as_dict()} for h, r in rows]}, indent=2))
    else:
        for line in table([(h, r.service, r.name, r.state, r.health, r.image_id, r.uptime, r.drift or "-")
                           for h, r in rows], ("HOST", "SERVICE", "CONTAINER", "STATE", "HEALTH", "ID", "UPTIME",
                                               "DRIFT")):
            click.echo(line)
    if missing:
        raise BerthError(f"{len(missing)} of {len(hosts)} host(s) not observed: "
                         + "; ".join(f"{r.host}: {r.message}" for r in missing), "check that they are up and reachable")
