"""reconfigure, stop, destroy, pull and cleanup: each decides the one Plan (shown, confirmable, JSON-able); the one
executor applies it (stop and destroy over the reversed dependency graph)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path

from berth.config.loader import Config
from berth.engine import labels
from berth.engine.base import ContainerInfo, Engine, doing
from berth.errors import ConfigError
from berth.images.names import repository_prefix
from berth.lifecycle import teardown
from berth.lifecycle.render import enabled_services, image_ref
from berth.plan.model import Action, ContainerChange, ObjectChange, Operation, Plan
from berth.run.events import progress_events
from berth.run.executor import Executor, HostContext
from berth.state.actual import ActualState
from berth.state.desired import DesiredState, ServiceUnit
from berth.state.facts import HostFacts
from berth.state.history import History

Progress = Callable[[str], None]


def op_lines(plan: Plan) -> list[str]:
    """The title, then one line per container and host object: action, kind, name, why."""
    lines = [plan.title]
    lines += [f"  {c.action.value:<7} {'container':<9} {c.name}{': ' + c.reasons[0] if c.reasons else ''}"
              for c in plan.changes]
    lines += [f"  {o.action:<7} {o.kind:<9} {o.name}{': ' + o.reason if o.reason else ''}" for o in plan.objects]
    if not plan.changes and not plan.objects:
        lines.append("  nothing to do")
    return lines


def units_of(config: Config) -> DesiredState:
    """The enabled services and their dependencies only: enough to order a stop or a destroy (nothing rendered)."""
    units = tuple(ServiceUnit(s.name, "localhost", tuple(s.depends_on)) for s in enabled_services(config))
    return DesiredState(config.globals.deployment_name, units)


def execute(engine: Engine, plan: Plan, desired: DesiredState, deployment_dir: Path,
            progress: Progress) -> Executor:
    """Apply `plan` with the one executor (no rendered values needed: stop, destroy, pull, cleanup)."""
    executor = Executor(HostContext(engine, desired, deployment_dir, {}), plan)
    executor.run(on_event=progress_events(progress), progress=progress)
    return executor


# --- reconfigure ---------------------------------------------------------------------------------------------------


def reconfigure_plan(plan: Plan) -> Plan:
    """Only containers whose configuration changed: restart on file changes, recreate on definition changes.

    Image changes are left to `berth upgrade` and steps to `berth deploy`; everything else becomes a no-op.
    Pure: unit-tested.
    """
    out = []
    kept: set[str] = set()
    for c in plan.changes:
        config_only = c.action is Action.RESTART and any(r.startswith("config changed") for r in c.reasons)
        definition = c.action is Action.RECREATE and not any(r.startswith("image") for r in c.reasons)
        follower = c.action is Action.RESTART and any(k in kept for k in c.follows)
        if config_only or definition or follower:
            out.append(c)
            kept.add(c.key)
        elif c.action is not Action.REMOVE:
            out.append(dataclasses.replace(c, action=Action.NOOP, fields=(), files=(),
                                           reasons=_unchanged_reason(c)))
    steps = tuple(dataclasses.replace(s, run=False, reason="not run by reconfigure") for s in plan.steps)
    return dataclasses.replace(plan, changes=tuple(out), steps=steps, operation=Operation.RECONFIGURE)


def _unchanged_reason(c: ContainerChange) -> tuple[str, ...]:
    if c.action is Action.NOOP:
        return ()
    return (f"left alone ({c.action.value} needed: {'; '.join(c.reasons)}; use `berth deploy`/`berth upgrade`)",)


# --- stop ------------------------------------------------------------------------------------------------------------


def stop_plan(desired: DesiredState, actual: ActualState, services: Collection[str] | None,
              host: str = "localhost") -> Plan:
    """Every running container of the selected services, from what the host reported (pure: any host); the
    executor stops them dependents first."""
    changes = [ContainerChange(host, c.service, c.key or c.name, c.name, Action.STOP, (f"service {c.service}",),
                               container_id=c.id)
               for c in actual.containers if c.running and (services is None or c.service in services)]
    return Plan(desired.deployment, changes=tuple(changes), operation=Operation.STOP,
                title="stop (dependents first):")


# --- destroy -----------------------------------------------------------------------------------------------------------


def _containers(engine: Engine, deployment: str, running_only: bool = False) -> list[ContainerInfo]:
    return engine.containers({labels.DEPLOYMENT: deployment}, running_only=running_only)


def destroy_plan(config: Config, facts: HostFacts, include_images: bool, host: str = "localhost",
                 include_data: bool = False) -> Plan:
    """Containers (dependents first), then volumes, networks, host objects, images and the state directory:
    everything of the deployment the host reported (pure: the same planner for one host or many). The host
    directories of data services declare (teardown `data_dirs`) go only with `include_data`; else the plan lists
    them as kept."""
    deployment = config.globals.deployment_name
    actual = facts.actual
    changes = tuple(ContainerChange(host, c.service or c.name, c.key or c.name, c.name, Action.REMOVE, (c.state,),
                                    container_id=c.id) for c in actual.containers)
    items = [ObjectChange("volume", v, "remove", "data is lost", v) for v in sorted(actual.volumes)]
    items += [ObjectChange("network", n, "remove", "", i) for n, i in sorted(facts.networks.items())]
    services = sorted({s.name for s in enabled_services(config)} | {c.service for c in actual.containers} - {""})
    items += [ObjectChange(o.kind, o.name, "remove", f"made for {o.service}")
              for o in teardown.find_for(config, services, facts.net,
                                         frozenset(c.service for c in actual.containers))]
    items += _data_dirs(config, host, {c.service for c in actual.containers}, include_data)
    if include_images:
        items += _deployment_images(config, actual.images)
    if facts.state_dir:
        items.append(ObjectChange("state", str(config.deployment_dir), "remove",
                                  "generated config, state, history (backups/, data/ and the config directory are "
                                  "kept)"))
    return Plan(deployment, changes=changes, objects=tuple(items), operation=Operation.DESTROY,
                title=f"destroy deployment {deployment}:")


def _data_dirs(config: Config, host: str, present: set[str], include: bool) -> list[ObjectChange]:
    """Data directories of the services that run (or ran: `present`) on `host`: removed, or listed as kept."""
    from berth.lifecycle.wiring import container_hosts

    out = []
    for service in enabled_services(config):
        here = service.name in present or any(host in container_hosts(config, service, key)
                                              for key in service.containers)
        for path in teardown.data_dirs(config, service) if here else []:
            if include:
                out.append(ObjectChange("data", path, "remove", f"data of {service.name} (--include-data)"))
            else:
                out.append(ObjectChange("data", path, "keep", f"data of {service.name}: --include-data removes it"))
    return out


def _deployment_images(config: Config, refs: Mapping[str, str]) -> list[ObjectChange]:
    """Every tag, in this deployment's namespace, of the images its services use (any tag: upgrades, failed
    ones). Tags are removed one by one, so another namespace's tag of the same image is never touched."""
    g = config.globals
    prefix = repository_prefix(g.docker_registry, g.image_namespace)
    names = {d.image for s in enabled_services(config) for d in s.containers.values()}
    out = []
    for tag in sorted(refs):
        repo = tag.rsplit(":", 1)[0]
        if repo.startswith(prefix) and repo.removeprefix(prefix) in names:
            out.append(ObjectChange("image", tag, "remove", "", tag))
    return out


# --- pull ------------------------------------------------------------------------------------------------------------


def pull_plan(config: Config, desired: DesiredState | None = None) -> Plan:
    """Every image of the enabled services (of `desired`'s containers when given: one host's part)."""
    if not config.globals.docker_registry:
        raise ConfigError("no docker_registry is configured: there is nothing to pull from",
                          "set docker_registry in globals.yml (e.g. 127.0.0.1:4000, see `berth registry`), "
                          "or build the images here with `berth build`")
    refs = sorted({c.image for c in desired.containers} if desired is not None else
                  {image_ref(config, d.image) for s in enabled_services(config) for d in s.containers.values()})
    return Plan(config.globals.deployment_name, objects=tuple(ObjectChange("image", r, "pull") for r in refs),
                operation=Operation.PULL, title=f"pull from {config.globals.docker_registry}:")


# --- cleanup ---------------------------------------------------------------------------------------------------------


def _cleanup(config: Config, title: str, items: Iterable[ObjectChange]) -> Plan:
    return Plan(config.globals.deployment_name, objects=tuple(items), operation=Operation.CLEANUP, title=title)


def cleanup_containers_plan(config: Config, engine: Engine) -> Plan:
    items = []
    for c in _containers(engine, config.globals.deployment_name):
        role = c.labels.get(labels.ROLE, "service")
        if c.name.endswith("--aside"):
            items.append(ObjectChange("container", c.name, "remove", "kept aside by an interrupted swap", c.id))
        elif role == "oneshot":
            items.append(ObjectChange("container", c.name, "remove", "one-shot step left over", c.id))
        elif c.state in ("exited", "created", "dead"):
            items.append(ObjectChange("container", c.name, "remove", f"{c.state} (a deploy creates it again)", c.id))
    return _cleanup(config, "cleanup containers:", items)


def cleanup_host_plan(config: Config, engine: Engine) -> Plan:
    """Host objects of services that have no running container in this deployment any more."""
    running = {c.labels.get(labels.SERVICE) for c in _containers(engine, config.globals.deployment_name, True)}
    services = [s.name for s in enabled_services(config) if s.teardown is not None and s.name not in running]
    return _cleanup(config, "cleanup host:", (ObjectChange(o.kind, o.name, "remove",
                                                           f"made for {o.service}, which is not running")
                                              for o in teardown.find_for(config, services)))


def cleanup_images_plan(config: Config, engine: Engine) -> Plan:
    """berth images of this namespace used by no container, not the current tag, not a rollback target."""
    g = config.globals
    prefix = repository_prefix(g.docker_registry, g.image_namespace)
    with doing("listing containers and images"):
        used = {c.image_id for c in engine.containers()}
        images = engine.images(labels.IMAGE_NAME)
    kept = {r.image_id for e in History(config.deployment_dir).entries() for r in e.containers}
    items = []
    for image in images:
        tags = [t for t in image.tags if t.startswith(prefix)]
        if image.tags and not tags:
            continue  # another namespace: not ours to judge
        current = any(t.endswith(f":{g.image_tag}") for t in tags)
        why = ("in use by a container" if image.id in used else "current tag" if current
               else "a rollback target in the history" if image.id in kept else "")
        name = ", ".join(tags) or f"<dangling> {image.short_id}"
        items.append(ObjectChange("image", name, "keep" if why else "remove", why or "unused", image.id))
    return _cleanup(config, "cleanup images:", [i for i in items if i.action == "remove"] +
                    [i for i in items if i.action == "keep" and i.reason != "current tag"])
