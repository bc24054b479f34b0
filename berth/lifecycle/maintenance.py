"""reconfigure, stop, destroy, pull and cleanup: each a plan (shown, confirmable, JSON-able) and its execution."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from berth.config.loader import Config
from berth.engine import labels
from berth.engine.base import ContainerInfo, Engine, doing
from berth.errors import ConfigError, EngineNotFound, EngineRefused
from berth.images.names import repository_prefix
from berth.lifecycle import teardown
from berth.lifecycle.render import enabled_services, image_ref
from berth.plan.model import Action, ContainerChange, Plan
from berth.run import actions
from berth.run.events import Status
from berth.run.scheduler import RunResult, Task, reverse_graph, run_graph
from berth.state.desired import DesiredState
from berth.state.history import History

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Item:
    kind: str  # container | volume | network | image | link | netns | iptables | state
    name: str
    action: str  # stop | remove | pull | keep
    reason: str = ""
    ident: str = ""  # engine id where there is one


@dataclass(frozen=True)
class OpPlan:
    title: str
    items: tuple[Item, ...] = ()

    @property
    def has_changes(self) -> bool:
        return any(i.action != "keep" for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "items": [dataclasses.asdict(i) for i in self.items]}


def op_lines(plan: OpPlan) -> list[str]:
    lines = [plan.title]
    lines += [f"  {i.action:<7} {i.kind:<9} {i.name}{': ' + i.reason if i.reason else ''}" for i in plan.items]
    if not plan.items:
        lines.append("  nothing to do")
    return lines


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
    return dataclasses.replace(plan, changes=tuple(out), steps=steps)


def _unchanged_reason(c: ContainerChange) -> tuple[str, ...]:
    if c.action is Action.NOOP:
        return ()
    return (f"left alone ({c.action.value} needed: {'; '.join(c.reasons)}; use `berth deploy`/`berth upgrade`)",)


# --- stop ------------------------------------------------------------------------------------------------------------


def stop_plan(desired: DesiredState, engine: Engine, services: list[str] | None) -> OpPlan:
    running = _containers(engine, desired.deployment, running_only=True)
    items = [Item("container", c.name, "stop", f"service {c.labels.get(labels.SERVICE)}", c.id) for c in running
             if services is None or c.labels.get(labels.SERVICE) in services]
    return OpPlan("stop (dependents first):", tuple(items))


def run_stop(desired: DesiredState, engine: Engine, plan: OpPlan) -> RunResult:
    """One task per service over the reversed dependency graph: keystone stops before mariadb."""
    by_service: dict[str, list[Item]] = {}
    for item in plan.items:
        by_service.setdefault(item.reason.removeprefix("service "), []).append(item)
    units = {u.name: u for u in desired.services}
    tasks = [Task(s, _stopper(engine, items), frozenset(d for d in (units[s].depends_on if s in units else ())
                                                        if d in by_service), "stop")
             for s, items in by_service.items()]
    return run_graph(reverse_graph(tasks), max_workers=4)


def _stopper(engine: Engine, items: list[Item]) -> Callable[[Progress], Status]:
    def run(progress: Progress) -> Status:
        for item in items:
            container = actions.get_container(engine, item.ident)
            if container is not None:
                progress(f"stopping {item.name}")
                actions.stop(engine, container, 10)
        return Status.SUCCEEDED
    return run


# --- destroy -----------------------------------------------------------------------------------------------------------


def _containers(engine: Engine, deployment: str, running_only: bool = False) -> list[ContainerInfo]:
    return engine.containers({labels.DEPLOYMENT: deployment}, running_only=running_only)


def destroy_plan(config: Config, engine: Engine, include_images: bool) -> OpPlan:
    deployment = config.globals.deployment_name
    selector = {labels.DEPLOYMENT: deployment}
    containers = _containers(engine, deployment)
    items = [Item("container", c.name, "remove", c.state, c.id) for c in containers]
    with doing("listing volumes and networks"):
        items += [Item("volume", v.name, "remove", "data is lost", v.name) for v in engine.volumes(selector)]
        items += [Item("network", n.name, "remove", "", n.id) for n in engine.networks(selector)]
    services = sorted({s.name for s in enabled_services(config)} | {c.labels.get(labels.SERVICE, "") for c in
                                                                     containers} - {""})
    items += [Item(o.kind, o.name, "remove", f"made for {o.service}") for o in teardown.find_for(config, services)]
    if include_images:
        items += _deployment_images(config, engine)
    if config.deployment_dir.is_dir():
        items.append(Item("state", str(config.deployment_dir), "remove",
                          "generated config, state, history (backups/ and the config directory are kept)"))
    return OpPlan(f"destroy deployment {deployment}:", tuple(items))


def _deployment_images(config: Config, engine: Engine) -> list[Item]:
    """Every tag, in this deployment's namespace, of the images its services use (any tag: upgrades, failed
    ones). Tags are removed one by one, so another namespace's tag of the same image is never touched."""
    g = config.globals
    prefix = repository_prefix(g.docker_registry, g.image_namespace)
    names = {d.image for s in enabled_services(config) for d in s.containers.values()}
    out = []
    for image in engine.images(labels.IMAGE_NAME):
        for tag in image.tags:
            repo = tag.rsplit(":", 1)[0]
            if repo.startswith(prefix) and repo.removeprefix(prefix) in names:
                out.append(Item("image", tag, "remove", "", tag))
    return out


def apply_items(engine: Engine, plan: OpPlan, progress: Progress) -> list[str]:
    """Remove in a safe order: containers, then volumes/networks, host objects, images, state."""
    order = ["container", "volume", "network", "link", "netns", "iptables", "image", "state"]
    done = []
    for kind in order:
        for item in (i for i in plan.items if i.kind == kind and i.action == "remove"):
            progress(f"removing {kind} {item.name}")
            done.append(_remove(engine, item))
    return done


def _remove(engine: Engine, item: Item) -> str:
    try:
        if item.kind == "container":
            actions.remove(engine, item.ident)
        elif item.kind == "volume":
            engine.remove_volume(item.ident, force=True)
        elif item.kind == "network":
            engine.remove_network(item.ident)
        elif item.kind == "image":
            engine.remove_image(item.ident, force=False)  # a tag, or a dangling image id
        elif item.kind == "state":
            _remove_state(item.name)
        else:
            return teardown.remove(teardown.HostObject(item.kind, item.name, ""))
    except EngineNotFound:
        return f"{item.kind} {item.name}: already gone"
    except EngineRefused as exc:
        return f"{item.kind} {item.name}: kept ({exc.explanation})"
    return f"{item.kind} {item.name}: removed"


def _remove_state(path: str) -> None:
    from pathlib import Path

    for child in Path(path).iterdir():
        if child.name != "backups":
            shutil.rmtree(child) if child.is_dir() else child.unlink()


# --- pull ------------------------------------------------------------------------------------------------------------


def pull_plan(config: Config) -> OpPlan:
    if not config.globals.docker_registry:
        raise ConfigError("no docker_registry is configured: there is nothing to pull from",
                          "set docker_registry in globals.yml (e.g. 127.0.0.1:4000, see `berth registry`), "
                          "or build the images here with `berth build`")
    refs = sorted({image_ref(config, d.image) for s in enabled_services(config) for d in s.containers.values()})
    return OpPlan(f"pull from {config.globals.docker_registry}:", tuple(Item("image", r, "pull") for r in refs))


def run_pull(engine: Engine, plan: OpPlan, progress: Progress) -> list[str]:
    done = []
    for item in plan.items:
        progress(f"pulling {item.name}")
        image = engine.pull(item.name)
        done.append(f"{item.name}: {image.short_id}")
    return done


# --- cleanup ---------------------------------------------------------------------------------------------------------


def cleanup_containers_plan(config: Config, engine: Engine) -> OpPlan:
    items = []
    for c in _containers(engine, config.globals.deployment_name):
        role = c.labels.get(labels.ROLE, "service")
        if c.name.endswith("--aside"):
            items.append(Item("container", c.name, "remove", "kept aside by an interrupted swap", c.id))
        elif role == "oneshot":
            items.append(Item("container", c.name, "remove", "one-shot step left over", c.id))
        elif c.state in ("exited", "created", "dead"):
            items.append(Item("container", c.name, "remove", f"{c.state} (a deploy creates it again)", c.id))
    return OpPlan("cleanup containers:", tuple(items))


def cleanup_host_plan(config: Config, engine: Engine) -> OpPlan:
    """Host objects of services that have no running container in this deployment any more."""
    running = {c.labels.get(labels.SERVICE) for c in _containers(engine, config.globals.deployment_name, True)}
    services = [s.name for s in enabled_services(config) if s.teardown is not None and s.name not in running]
    return OpPlan("cleanup host:", tuple(Item(o.kind, o.name, "remove", f"made for {o.service}, which is not running")
                                         for o in teardown.find_for(config, services)))


def cleanup_images_plan(config: Config, engine: Engine) -> OpPlan:
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
        items.append(Item("image", name, "keep" if why else "remove", why or "unused", image.id))
    return OpPlan("cleanup images:", tuple(i for i in items if i.action == "remove") +
                  tuple(i for i in items if i.action == "keep" and i.reason != "current tag"))


def names(items: Iterable[Item]) -> list[str]:
    return [i.name for i in items]
