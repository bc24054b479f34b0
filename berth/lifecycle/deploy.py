"""Deploy = observe -> render -> plan -> (show, confirm) -> execute, on one host.

`converge_host` is the one function a host runs: the all-in-one calls it in-process; multinode will call the same
function on each host through Ansible with that host's name.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.config.globals import is_enabled
from berth.config.loader import Config
from berth.engine.base import Engine
from berth.errors import DeployError, NotFoundError
from berth.lifecycle.hostplans import host_plan
from berth.lifecycle.keystone_register import Registrar
from berth.lifecycle.wiring import exports
from berth.plan.hostplan import HostPlan
from berth.plan.model import Operation, Plan
from berth.run.executor import Executor, HostContext, Timings
from berth.run.scheduler import EventSink, RunResult
from berth.state.model import deployable_services
from berth.state.observe import observe

# What a plan was made from and decided, so the executor applies exactly what was shown: the host plan itself.
Snapshot = HostPlan


@dataclass
class Outcome:
    plan: Plan
    result: RunResult
    timings: Timings
    elapsed: float
    done: dict[str, list[str]] = field(default_factory=dict)
    objects: list[str] = field(default_factory=list)  # host objects pulled, built or removed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.result.ok,
            "elapsed": round(self.elapsed, 2),
            "time_in_steps": round(self.timings.steps, 2),
            "time_waiting_for_health": round(self.timings.health, 2),
            "services": {k: {"status": o.status.value, "message": o.message, "elapsed": round(o.elapsed, 2),
                             "done": self.done.get(k, [])} for k, o in self.result.outcomes.items()},
            "objects": self.objects,
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


def check_release(config: Config, changes: bool) -> None:
    """Refuse to deploy another release over a running cloud (that is `berth upgrade --release`); a deploy that
    changes things records the release the deployment now runs."""
    from berth.config.release import record_release, release_mismatch
    from berth.errors import ConfigError

    release = config.globals.openstack_release
    why = release_mismatch(release, config.running_release, config.release_explicit)
    if why:
        raise ConfigError(why.split("; ", 1)[0], why.split("; ", 1)[1] + "; nothing was changed")
    if changes and config.running_release != release:
        record_release(config.deployment_dir, release)


def snapshot(config: Config, engine: Engine, services: Collection[str] | None = None,
             host: str = "localhost") -> HostPlan:
    """Observe this host's engine and plan against it."""
    actual = observe(engine, config.globals.deployment_name, config.deployment_dir)
    return host_plan(config, host, actual, services)


def registrar_for(config: Config) -> Registrar | None:
    if not is_enabled(config.globals, "keystone"):
        return None
    keystone = exports(config)
    admin = keystone["keystone_admin"]
    return Registrar(keystone["keystone_auth_url"], admin["username"],
                     str(config.passwords.get(admin["password_key"], "")), admin["project_name"], admin["region_name"])


def host_context(engine: Engine, plan: HostPlan) -> HostContext:
    """What the executor needs besides the plan, all of it from the plan: no configuration on the host."""
    login = plan.keystone
    registrar = None
    if login:
        auth = dict(login["auth"])
        registrar = Registrar(auth.pop("auth_url"), auth.pop("username"),
                              str(plan.credentials.get(login["password_key"], "")), auth.pop("project_name"),
                              login["region"])
    return HostContext(engine=engine, desired=plan.desired, deployment_dir=Path(plan.deployment_dir),
                       passwords=plan.credentials, actual=plan.actual, registrar=registrar)


def converge_host(plan: HostPlan, engine: Engine, on_event: EventSink | None = None,
                  max_workers: int = 4) -> Outcome:
    """Apply one host's plan on its engine; never raises for a failed service (see Outcome.result).

    The one per-host apply: the all-in-one calls it in-process, and a plan read back from JSON on another host
    applies the same way (it needs nothing but the plan and the engine).
    """
    start = time.monotonic()
    executor = Executor(host_context(engine, plan), plan.plan, max_workers=max_workers)
    result = executor.run(on_event)
    if plan.plan.operation in (Operation.DEPLOY, Operation.RECONFIGURE):  # upgrade/rollback record their own
        record_history(engine, plan, result)
    return Outcome(plan.plan, result, executor.timings, time.monotonic() - start, executor.results,
                   executor.objects_done)


def record_history(engine: Engine, plan: HostPlan, result: RunResult) -> None:
    """A history entry per service this run changed (or that has none yet): the targets of `berth rollback`."""
    from berth.lifecycle.records import record_deploy

    ok = [k for k, o in result.outcomes.items() if o.status.value in ("succeeded", "cached")]
    changed = {c.service for c in plan.plan.changes if c.action.changes}
    units = {u.name for u in plan.desired.services}
    record_deploy(Path(plan.deployment_dir), engine, plan.desired, [s for s in ok if s in units], changed)


def raise_first(result: RunResult) -> None:
    """Upgrade and rollback: the first failed service's own error, unchanged (it says what was put back)."""
    failed = [o for o in result.outcomes.values() if o.status.value == "failed"]
    if failed and failed[0].error is not None:
        raise failed[0].error
    if failed:
        raise DeployError(f"{failed[0].key} failed: {failed[0].message}")


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
    operation = outcome.plan.operation.value
    hint = getattr(first.error, "hint", None) or f"fix the cause, then run `berth {operation}` again to finish"
    names = ", ".join(o.key for o in failed)
    raise DeployError(f"{operation} failed in {names}: {first.message}", hint, details=details)
