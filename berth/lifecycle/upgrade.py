"""`berth upgrade`: the one Plan of an upgrade — images first, then per service, one at a time: backup, upgrade
steps, container swaps, history record. The one executor applies it.

Nothing stops before every new image is present. Each service's databases are dumped before its steps run; the
steps run with the new image while the old containers still serve (expand/migrate), then the containers are
swapped one at a time (the old one kept aside until the new one is healthy, put back on failure), then the
`after` steps (contract). A pending history entry is written before anything changes, so an interrupted upgrade is
finished by running it again with the same backups as restore point.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from berth.config.loader import Config
from berth.engine.base import Engine
from berth.lifecycle.deploy import Snapshot, host_context, raise_first
from berth.lifecycle.hostplans import host_plan
from berth.plan.model import HISTORY_KINDS, Action, ContainerChange, ObjectChange, Operation, Plan, StepChange
from berth.run.events import progress_events
from berth.run.executor import Executor, HostContext
from berth.state.desired import DesiredState, DesiredStep
from berth.state.facts import HostFacts
from berth.state.history import Entry, pending
from berth.state.model import load_service

Progress = Callable[[str], None]


def with_tag(config: Config, tag: str | None) -> Config:
    """The configuration with another image tag (globals.yml is not changed)."""
    if not tag:
        return config
    return dataclasses.replace(config, globals=config.globals.model_copy(update={"image_tag": tag}))


def upgrade_snapshot(config: Config, facts: HostFacts, services: Sequence[str], host: str = "localhost") -> Snapshot:
    """Desired state with the selected services on the config's tag (their pins ignored), the others pinned to
    what the host recorded. Pure: the host's facts, not its engine."""
    pins = {k: v for k, v in facts.actual.pins.items() if k not in services}
    return host_plan(config, host, facts.actual, services, pins)


def step_order(desired: DesiredState, snap_steps: set[str], service: str) -> tuple[list[DesiredStep],
                                                                                   list[DesiredStep]]:
    """(before, after) steps of an upgrade: the deploy steps due, with `upgrade.steps` in place of those they
    replace (or appended when they replace none). Pure: unit-tested."""
    replaced = set(desired.replaced.get(service, ()))
    extra = [s for s in desired.upgrade_steps if s.service == service]
    extra_before = [s for s in extra if s.phase == "before"]
    before: list[DesiredStep] = []
    inserted = False
    for step in desired.steps_of(service):
        if step.phase != "before":
            continue
        if step.name in replaced:
            if not inserted:
                before += extra_before
                inserted = True
            continue
        if step.id in snap_steps:
            before.append(step)
    if not inserted:
        before += extra_before
    after = [s for s in extra if s.phase == "after"]
    after += [s for s in desired.steps_of(service) if s.phase == "after" and s.id in snap_steps
              and s.name not in replaced]
    return before, after


def images_needed(desired: DesiredState, services: Sequence[str], registry: str, build: bool) -> list[ObjectChange]:
    """Images of the selected services that are not present: pulled from a registry, else built."""
    out: dict[str, ObjectChange] = {}
    for want in desired.containers:
        if want.service in services and want.image not in out and want.image_id is None:
            name = str(want.spec.get("image", want.image)).rsplit("/", 1)[-1].split(":")[0]
            action = "pull" if registry and not build else "build"
            out[want.image] = ObjectChange("image", want.image, action, "not present", name)
    return list(out.values())


def dependency_order(desired: DesiredState, services: Sequence[str]) -> list[str]:
    """Selected services, each after the selected services it depends on (mariadb before keystone)."""
    units = {u.name: u for u in desired.services if u.name in services}
    out: list[str] = []

    def visit(name: str) -> None:
        if name in out or name not in units:
            return
        for dep in units[name].depends_on:
            visit(dep)
        out.append(name)

    for name in sorted(units):
        visit(name)
    return out


def upgrade_action(change: ContainerChange, aside: set[str]) -> ContainerChange:
    """Deploy's decision as an upgrade does it: every change is a swap by the container's own strategy; an
    interrupted swap (the old container still aside) is finished or redone. Pure: unit-tested."""
    action = change.action
    if action is Action.START or (action is Action.NOOP and change.key in aside):
        reasons = change.reasons or ("an interrupted swap left the old container aside",)
        return dataclasses.replace(change, action=Action.FINISH, reasons=reasons)
    if action in (Action.RECREATE, Action.RESTART) or (action is Action.CREATE and change.key in aside):
        return dataclasses.replace(change, action=Action.SWAP)
    return change


def plan_upgrade(config: Config, snap: Snapshot, services: Sequence[str], build: bool,
                 configured_tag: str = "", entries: Sequence[Entry] = (), note: str = "",
                 keep: Mapping[str, str] | None = None) -> Plan:
    """The one Plan: per service (dependency order) backup, steps with the new image, swaps, `after` steps and
    the history record; a service already on the tag (and no interrupted upgrade) does nothing. `entries` is the
    host's history (an interrupted upgrade is resumed from its pending entry). `note` names the entries (a
    release upgrade's note is what `berth rollback --release` finds); `keep` pins services the upgrade leaves
    on their image tag (infrastructure through a release upgrade), recorded with the first service's entry."""
    host = next((u.host for u in snap.desired.services), "localhost")
    tag = config.globals.image_tag
    due = {s.id for s in snap.plan.steps if s.run}
    aside = {c.key for c in snap.actual.containers if c.aside}
    changes: list[ContainerChange] = []
    steps: list[StepChange] = []
    units = dependency_order(snap.desired, services)
    for name in units:
        found = pending(entries, name)
        ours = [upgrade_action(c, aside) for c in snap.plan.for_service(name)]
        resume = found is not None or any(c.key in aside for c in ours)
        needed = resume or any(c.action.changes for c in ours)
        changes += ours
        steps += _service_steps(snap.desired, due, name, needed, found, tag, configured_tag, host, note,
                                (keep or {}) if name == units[0] else {})
    images = images_needed(snap.desired, services, config.globals.docker_registry, build)
    return Plan(snap.desired.deployment, tuple(units), tuple(changes), tuple(steps), Operation.UPGRADE,
                objects=tuple(images), title=f"upgrade to image tag {tag}:", tag=tag)


def _service_steps(desired: DesiredState, due: set[str], name: str, needed: bool, found: Entry | None, tag: str,
                   configured_tag: str, host: str = "localhost", note: str = "",
                   keep: Mapping[str, str] | None = None) -> list[StepChange]:
    before, after = step_order(desired, due, name)
    # databases are dumped where they are made (the host of the service's deployment-wide steps), once
    here = any(s.scope == "deployment" for s in desired.steps_of(name))
    databases = [d.name for d in load_service(name).databases] if here else []
    server = database_server(desired, name) if databases else {}
    reason = f"finishing the interrupted upgrade of entry {found.id}" if found else "before anything changes"

    def step(s: DesiredStep, why: str) -> StepChange:
        return StepChange(s.host, name, s.name, s.kind, needed, why, s.phase)
    out = [StepChange(host, name, "backup", "backup", needed, reason, "before",
                      {"databases": databases, "note": note or f"to {tag}", "resume": found is not None, **server})]
    out += [step(s, "with the new image, the old containers still serving") for s in before]
    out += [step(s, "after the swap") for s in after]
    out.append(StepChange(host, name, "history", "record", needed, "the entry `berth rollback` returns from",
                          "after", {"kind": "upgrade", "databases": databases,
                                    "pin": None if tag == configured_tag else tag, **server,
                                    **({"keep": dict(keep)} if keep else {})}))
    return out


def database_server(desired: DesiredState, service: str) -> dict[str, Any]:
    """Where the service's databases are (its database steps say: mariadb's exported address, port and the key of
    the root password), for dumps taken over the network when MariaDB runs on another host."""
    for step in desired.steps_of(service):
        if step.kind == "database":
            return {"server": {k: step.payload[k] for k in ("host", "port", "admin_password")}}
    return {}


def plan_lines(plan: Plan) -> list[str]:
    lines = [plan.title]
    for need in plan.objects:
        if need.action in ("pull", "build"):
            lines.append(f"  image {need.name}: will be {'pulled' if need.action == 'pull' else 'built'} first")
    for name in plan.services:
        if not plan.service_changes(name):
            lines.append(f"  {name}: already on {plan.tag}, nothing to do")
            continue
        steps = plan.steps_for(name)
        backup = next(s for s in steps if s.kind == "backup")
        lines.append(f"  {name}:{' (finishing an interrupted upgrade)' if backup.payload.get('resume') else ''}")
        if backup.payload.get("databases"):
            lines.append(f"    back up databases {', '.join(backup.payload['databases'])} (mariadb-dump, gzip)")
        before = [s.name for s in steps if s.phase == "before" and s.kind not in HISTORY_KINDS]
        if before:
            lines.append(f"    steps with the new image: {', '.join(before)}")
        for c in plan.for_service(name):
            if c.action is not Action.NOOP:
                lines.append(f"    {c.action.value:<8} {c.name}: {'; '.join(c.reasons)}")
        after = [s.name for s in steps if s.phase == "after" and s.kind not in HISTORY_KINDS]
        if after:
            lines.append(f"    after the swap: {', '.join(after)}")
    return lines


# --- applying ----------------------------------------------------------------------------------------------------------


def build_images(config: Config, engine: Engine, names: list[str], progress: Progress) -> None:
    from berth.errors import BuildError
    from berth.images.builder import BuildOptions, plan_build, run_build
    from berth.run.events import Status

    override = config.config_dir / "template-overrides.j2"
    plan = plan_build(engine, config.globals, names, override=override.read_text() if override.is_file() else "")
    progress(f"building {', '.join(names)} ({config.globals.image_tag})")
    result = run_build(engine, plan, BuildOptions(threads=2))
    if not result.ok:
        failed = [o.key for o in result.with_status(Status.FAILED)]
        raise BuildError(f"building {', '.join(failed)} failed; nothing was changed",
                         "see the logs in /var/log/berth/build")


def context(config: Config, engine: Engine, snap: Snapshot) -> HostContext:
    """The snapshot's host context, able to build the images the plan says to build."""
    ctx = host_context(engine, snap)
    ctx.build = lambda names, progress: build_images(config, engine, names, progress)
    return ctx


def run_upgrade(ctx: HostContext, plan: Plan, progress: Progress) -> tuple[list[Entry], dict[str, list[str]]]:
    """Apply the plan with the one executor; stops at the first failure (its error says what was put back)."""
    executor = Executor(ctx, plan)
    raise_first(executor.run(progress_events(progress), progress))
    entries = [executor.entries[s] for s in plan.services if s in executor.entries]
    return entries, {k: v for k, v in executor.results.items() if v}
