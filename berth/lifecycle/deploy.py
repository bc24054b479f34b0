"""Deploy = observe -> render -> plan -> (show, confirm) -> execute, on one host.

`converge_host` is the one function a host runs: the all-in-one calls it in-process; multinode will call the same
function on each host through Ansible with that host's name.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth.config.globals import is_enabled
from berth.config.loader import Config
from berth.engine.base import Engine
from berth.errors import DeployError, NotFoundError
from berth.lifecycle.keystone_register import Registrar
from berth.lifecycle.render import render_desired
from berth.plan.model import Plan
from berth.plan.planner import make_plan
from berth.run.executor import Executor, HostContext, Timings
from berth.run.scheduler import EventSink, RunResult
from berth.state.actual import ActualState
from berth.state.desired import DesiredState
from berth.state.model import deployable_services
from berth.state.observe import observe


@dataclass(frozen=True)
class Snapshot:
    """Everything a plan was made from, so the executor applies exactly what was shown."""

    desired: DesiredState
    actual: ActualState
    plan: Plan


@dataclass
class Outcome:
    plan: Plan
    result: RunResult
    timings: Timings
    elapsed: float
    done: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.result.ok,
            "elapsed": round(self.elapsed, 2),
            "time_in_steps": round(self.timings.steps, 2),
            "time_waiting_for_health": round(self.timings.health, 2),
            "services": {k: {"status": o.status.value, "message": o.message, "elapsed": round(o.elapsed, 2),
                             "done": self.done.get(k, [])} for k, o in self.result.outcomes.items()},
        }


def check_services(config: Config, services: Sequence[str]) -> list[str] | None:
    """The selected services (None = all); unknown or disabled names are refused before anything changes."""
    if not services:
        return None
    known = deployable_services()
    for name in services:
        if name not in known:
            raise NotFoundError(f"unknown service `{name}`", f"deployable services: {', '.join(known)}")
        if not is_enabled(config.globals, name):
            raise NotFoundError(f"service `{name}` is disabled",
                                f"set enable_{name.replace('-', '_')}: true in globals.yml")
    return list(services)


def snapshot(config: Config, engine: Engine, services: Collection[str] | None = None,
             host: str = "localhost") -> Snapshot:
    actual = observe(engine, config.globals.deployment_name, config.deployment_dir)
    desired = render_desired(config, actual.images, host)
    return Snapshot(desired, actual, make_plan(desired, actual, services))


def registrar_for(config: Config) -> Registrar | None:
    if not is_enabled(config.globals, "keystone"):
        return None
    g = config.globals
    return Registrar(f"http://{config.api_address}:5000/v3", g.keystone_admin_user,
                     str(config.passwords.get("keystone_admin_password", "")), g.keystone_admin_project,
                     g.openstack_region_name)


def converge_host(config: Config, engine: Engine, snap: Snapshot,
                  on_event: EventSink | None = None, max_workers: int = 4) -> Outcome:
    """Apply `snap.plan` on this host; never raises for a failed service (see Outcome.result)."""
    start = time.monotonic()
    context = HostContext(engine=engine, desired=snap.desired, deployment_dir=config.deployment_dir,
                          passwords=config.passwords, actual=snap.actual, registrar=registrar_for(config))
    executor = Executor(context, snap.plan, max_workers=max_workers)
    result = executor.run(on_event)
    record_history(config, engine, snap, result)
    return Outcome(snap.plan, result, executor.timings, time.monotonic() - start, executor.results)


def record_history(config: Config, engine: Engine, snap: Snapshot, result: RunResult) -> None:
    """A history entry per service this run changed (or that has none yet): the targets of `berth rollback`."""
    from berth.lifecycle.records import record_deploy

    ok = [k for k, o in result.outcomes.items() if o.status.value in ("succeeded", "cached")]
    changed = {c.service for c in snap.plan.changes if c.action.changes}
    units = {u.name for u in snap.desired.services}
    record_deploy(config, engine, snap.desired, [s for s in ok if s in units], changed)


def raise_for(outcome: Outcome) -> None:
    """One DeployError naming the first failed service, its container and last log lines."""
    failed = [o for o in outcome.result.outcomes.values() if o.status.value == "failed"]
    if not failed:
        return
    first = failed[0]
    skipped = [o.key for o in outcome.result.outcomes.values() if o.status.value == "skipped"]
    details = list(getattr(first.error, "details", []) or [])
    if skipped:
        details.append(f"not run because of it: {', '.join(sorted(skipped))}")
    hint = getattr(first.error, "hint", None) or "fix the cause, then run `berth deploy` again to finish"
    names = ", ".join(o.key for o in failed)
    raise DeployError(f"deploy failed in {names}: {first.message}", hint, details=details)
