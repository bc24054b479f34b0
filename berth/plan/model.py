"""The plan value: what will happen to each container, step and host object, and why. Frozen, printable, JSON-able.

One plan type for every change (deploy, reconfigure, upgrade, rollback, stop, destroy, pull, cleanup), applied by
one executor (berth.run.executor). The operation says how services are ordered; the items say what happens:
container actions, steps (one-shot, database, register, and the history-keeping kinds `backup`, `restore`,
`flush`, `record`), and host objects (volumes, networks, links, namespaces, rules, images, the state directory).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any


class Action(str, Enum):
    CREATE = "create"
    RECREATE = "recreate"  # create-time fields or the image changed
    RESTART = "restart"  # only config files changed (the entrypoint copies them at start), or unhealthy
    START = "start"  # exists, unchanged, not running
    NOOP = "noop"
    REMOVE = "remove"  # no longer desired, or left over by an interrupted run
    SWAP = "swap"  # upgrade/rollback: replace by the container's own swap strategy (stop-first or overlap)
    FINISH = "finish"  # an interrupted swap's new container exists: make it serve, drop the old one kept aside
    STOP = "stop"

    @property
    def changes(self) -> bool:
        return self is not Action.NOOP


class Operation(str, Enum):
    DEPLOY = "deploy"
    RECONFIGURE = "reconfigure"
    UPGRADE = "upgrade"
    ROLLBACK = "rollback"
    STOP = "stop"
    DESTROY = "destroy"
    PULL = "pull"
    CLEANUP = "cleanup"

    @property
    def order(self) -> Order:
        """Deploys follow dependencies in parallel; stop/destroy the reverse; upgrade/rollback one at a time
        (a failed service stops the run before the next one changes)."""
        if self in (Operation.STOP, Operation.DESTROY):
            return Order.REVERSE
        if self in (Operation.UPGRADE, Operation.ROLLBACK):
            return Order.SERIAL
        return Order.DEPENDENCIES


class Order(str, Enum):
    DEPENDENCIES = "dependencies"
    REVERSE = "reverse"
    SERIAL = "serial"


def _frozen(value: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class FileDiff:
    name: str
    diff: str  # unified diff with secrets masked


@dataclass(frozen=True)
class ContainerChange:
    host: str
    service: str
    key: str
    name: str
    action: Action
    reasons: tuple[str, ...] = ()
    fields: tuple[FieldChange, ...] = ()
    files: tuple[FileDiff, ...] = ()
    container_id: str | None = None  # the existing container the action applies to
    follows: tuple[str, ...] = ()  # restart only because these containers (re)start (restart_with)
    image_id: str | None = None  # create from this exact image (a rollback whose tag has moved since)


STEP_KINDS = ("oneshot", "database", "register")  # steps a service defines (a DesiredStep of that name)
HISTORY_KINDS = ("backup", "restore", "flush", "record")  # steps upgrade and rollback add around a change


@dataclass(frozen=True)
class StepChange:
    """A step of a service, run in plan order: `before` steps, then the container actions, then `after` steps.

    `payload` is plain JSON data for the kinds the plan itself defines: backup {databases, note, resume},
    restore {backups}, flush {servers}, record {kind, databases, pin, target, stamps}.
    """

    host: str
    service: str
    name: str
    kind: str
    run: bool
    reason: str
    phase: str = "before"
    payload: Mapping[str, Any] = field(default_factory=_frozen)

    @property
    def id(self) -> str:
        return f"{self.service}/{self.name}"


@dataclass(frozen=True)
class ObjectChange:
    """A host object outside containers: image (pull, build, remove, keep), volume, network, link, netns,
    iptables rule or the state directory (remove). Pulls and builds run before any service changes, removals
    after every service is done (containers first: a volume in use cannot go)."""

    kind: str
    name: str
    action: str  # pull | build | remove | keep
    reason: str = ""
    ident: str = ""  # engine id, tag or image name where there is one

    @property
    def changes(self) -> bool:
        return self.action != "keep"


@dataclass(frozen=True)
class Blocker:
    """Why the plan cannot be applied as it stands (shown with the plan, raised before anything changes)."""

    message: str
    hint: str
    missing: bool = False  # something to fetch first (not found) rather than a refusal


@dataclass(frozen=True)
class Plan:
    deployment: str
    services: tuple[str, ...] = ()
    changes: tuple[ContainerChange, ...] = ()
    steps: tuple[StepChange, ...] = ()
    operation: Operation = Operation.DEPLOY
    objects: tuple[ObjectChange, ...] = ()
    title: str = ""  # the heading line (what, to which tag or entry)
    tag: str = ""  # upgrade: the image tag the services move to
    blockers: tuple[Blocker, ...] = ()

    @property
    def hosts(self) -> list[str]:
        return sorted({c.host for c in self.changes} | {s.host for s in self.steps})

    @property
    def has_changes(self) -> bool:
        return (any(c.action.changes for c in self.changes) or any(s.run for s in self.steps)
                or any(o.changes for o in self.objects))

    def service_changes(self, service: str) -> bool:
        return any(c.action.changes for c in self.for_service(service)) or any(s.run for s in self.steps_for(service))

    def for_service(self, service: str) -> list[ContainerChange]:
        return [c for c in self.changes if c.service == service]

    def steps_for(self, service: str) -> list[StepChange]:
        return [s for s in self.steps if s.service == service]

    def change(self, key: str) -> ContainerChange | None:
        return next((c for c in self.changes if c.key == key and c.action is not Action.REMOVE), None)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for change in self.changes:
            out[change.action.value] = out.get(change.action.value, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        from berth.plan.codec import to_data

        return to_data(self)  # type: ignore[no-any-return]
