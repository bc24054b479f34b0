"""Host objects of a plan: images pulled or built before any service changes, objects removed after all of them.

Removal goes in a safe order (volumes and networks once their containers are gone, host interfaces, namespaces
and rules, images, the state directory last). An object already gone is fine; one the engine refuses to remove
is kept and said so: destroy and cleanup go on with the rest.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from berth.engine.base import Engine
from berth.errors import DeployError, EngineNotFound, EngineRefused
from berth.plan.model import ObjectChange, Operation, Plan
from berth.run import actions

Progress = Callable[[str], None]
Builder = Callable[[list[str], Progress], None]
REMOVE_ORDER = ("container", "volume", "network", "link", "links", "vifs", "netns", "iptables", "chains", "data", "image",
                "state")
# removing the state directory keeps these: database dumps, and service data under data/ (a service's teardown
# `data_dirs` names its own, removed only by `destroy --include-data`)
KEPT_BY_STATE = ("backups", "data")


def fetch(engine: Engine, plan: Plan, build: Builder | None, progress: Progress) -> list[str]:
    """Pull, then build, every image the plan needs; raises before any container is touched."""
    done = []
    for item in (o for o in plan.objects if o.action == "pull"):
        if plan.operation is Operation.PULL:  # `berth pull` refreshes every tag
            progress(f"pulling {item.name}")
            done.append(f"{item.name}: {engine.pull(item.name).short_id}")
        else:  # upgrade: only what is missing
            done.append(f"{item.name}: {actions.ensure_image(engine, item.name, progress)[:19]}")
    builds = sorted({o.ident or o.name for o in plan.objects if o.action == "build"})
    if builds:
        if build is None:
            raise DeployError(f"images {', '.join(builds)} must be built and this host cannot build",
                              "build them on the deployment host (`berth build`) or pull them from a registry")
        build(builds, progress)
        done += [f"{name}: built" for name in builds]
    return done


def remove_all(engine: Engine, plan: Plan, progress: Progress) -> list[str]:
    done = []
    for kind in REMOVE_ORDER:
        for item in (o for o in plan.objects if o.kind == kind and o.action == "remove"):
            progress(f"removing {kind} {item.name}")
            done.append(remove(engine, item))
    return done


def remove(engine: Engine, item: ObjectChange) -> str:
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
        elif item.kind == "data":
            from berth.lifecycle import teardown

            return teardown.remove_data_dir(item.name)
        else:
            from berth.lifecycle import teardown

            return teardown.remove(teardown.HostObject(item.kind, item.name, ""))
    except EngineNotFound:
        return f"{item.kind} {item.name}: already gone"
    except EngineRefused as exc:
        return f"{item.kind} {item.name}: kept ({exc.explanation})"
    return f"{item.kind} {item.name}: removed"


def _remove_state(path: str) -> None:
    """Everything berth generated except the database dumps (the last copy of the data after a destroy) and the
    service data (removed as its own `data` item, only when asked)."""
    for child in Path(path).iterdir():
        if child.name not in KEPT_BY_STATE:
            shutil.rmtree(child) if child.is_dir() else child.unlink()
