"""From configuration to the plans each host applies: render per host, decide against what each host runs.

`host_plans()` is the one place a deployment's plans are made, for one host (the all-in-one) or many. With
`observed` empty for a host, the plan is made against an empty host: `berth deploy --plan --offline` shows a
multi-host deployment without contacting any host.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from berth.config.loader import Config
from berth.lifecycle.render import render_desired
from berth.plan.hostplan import HostPlan
from berth.plan.planner import make_plan
from berth.state.actual import ActualState
from berth.state.desired import DesiredState


def inventory_hosts(config: Config) -> list[str]:
    """Every host of the inventory in its order (the built-in all-in-one: localhost)."""
    inventory = config.inventory
    return list(inventory.hosts) if inventory is not None else ["localhost"]


def host_plan(config: Config, host: str, actual: ActualState, services: Collection[str] | None = None,
              pins: Mapping[str, str] | None = None) -> HostPlan:
    """The plan of one host, against what `actual` says runs there (its images, and its pins unless `pins`)."""
    desired = render_desired(config, actual.images, host, actual.pins if pins is None else pins)
    return HostPlan(deployment=desired.deployment, host=host, deployment_dir=str(config.deployment_dir),
                    desired=desired, actual=actual, plan=make_plan(desired, actual, services),
                    credentials=credentials_for(config, desired), keystone=keystone_login(config))


def host_plans(config: Config, observed: Mapping[str, ActualState] | None = None,
               services: Collection[str] | None = None) -> list[HostPlan]:
    """One plan per inventory host that runs anything; a host missing from `observed` is planned as empty."""
    observed = observed or {}
    deployment = config.globals.deployment_name
    out = []
    for host in inventory_hosts(config):
        plan = host_plan(config, host, observed.get(host, ActualState(deployment)), services)
        if plan.desired.services or plan.plan.changes:
            out.append(plan)
    return out


def credentials_for(config: Config, desired: DesiredState) -> dict[str, Any]:
    """The password values this host's steps use (their payloads name them by key), and nothing else."""
    keys = set()
    for step in desired.steps + desired.upgrade_steps:
        payload = step.payload
        if step.kind == "database":
            keys |= {str(payload.get("password", "")), str(payload.get("admin_password", ""))}
        if step.kind == "register":
            keys |= {str(u.get("password", "")) for u in payload.get("users", ())}
            keys.add(str((payload.get("admin") or {}).get("password_key", "")))
    return {k: config.passwords.get(k) for k in sorted(keys) if k and config.passwords.get(k) is not None}


def keystone_login(config: Config) -> dict[str, Any]:
    """How registration steps log in to Keystone (the password stays a key into `credentials`)."""
    from berth.lifecycle.deploy import registrar_for
    from berth.lifecycle.wiring import exports

    registrar = registrar_for(config)
    if registrar is None:
        return {}
    auth = {k: v for k, v in registrar.auth.items() if k != "password"}
    return {"auth": auth, "password_key": exports(config)["keystone_admin"]["password_key"],
            "region": registrar.region}


def summary(plan: HostPlan) -> dict[str, Any]:
    """What `deploy --plan --json` shows of a host plan: containers, images, actions and steps (masked)."""
    data = plan.masked()
    images = {c["key"]: c["image"] for c in data["desired"]["containers"]}
    containers = [{"service": c["service"], "container": c["name"], "image": images.get(c["key"]),
                   "action": c["action"], "reasons": c["reasons"]} for c in data["plan"]["changes"]]
    scopes = {f"{s['service']}/{s['name']}": s.get("scope", "host") for s in data["desired"]["steps"]}
    steps = [{"step": f"{s['service']}/{s['name']}", "kind": s["kind"], "run": s["run"], "reason": s["reason"],
              "scope": scopes.get(f"{s['service']}/{s['name']}", "host")} for s in data["plan"]["steps"]]
    return {"host": plan.host, "services": list(plan.plan.services), "containers": containers, "steps": steps}


def changed_since(planned: ActualState, now: ActualState) -> list[str]:
    """How a host's containers differ from what its plan was decided against (empty: the plan still holds).

    A plan applied to a host that changed in between would act on containers it never saw; the host refuses it
    instead, and the operator plans again.
    """
    def rows(state: ActualState) -> dict[str, tuple[str, str, str]]:
        return {c.name: (c.id, c.config_hash, "running" if c.running else "stopped") for c in state.containers}

    before, after = rows(planned), rows(now)
    out = [f"{name}: new since the plan" for name in sorted(set(after) - set(before))]
    out += [f"{name}: gone since the plan" for name in sorted(set(before) - set(after))]
    for name in sorted(set(before) & set(after)):
        old, new = before[name], after[name]
        if old[0] != new[0]:
            out.append(f"{name}: replaced since the plan")
        elif old[1] != new[1]:
            out.append(f"{name}: its configuration changed since the plan")
        elif old[2] != new[2]:
            out.append(f"{name}: {old[2]} when planned, {new[2]} now")
    return out
