"""The plan value: what will happen to each container and step, and why. Frozen, printable, JSON-able."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class Action(str, Enum):
    CREATE = "create"
    RECREATE = "recreate"  # create-time fields or the image changed
    RESTART = "restart"  # only config files changed (the entrypoint copies them at start), or unhealthy
    START = "start"  # exists, unchanged, not running
    NOOP = "noop"
    REMOVE = "remove"  # no longer desired, or left over by an interrupted run

    @property
    def changes(self) -> bool:
        return self is not Action.NOOP


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


@dataclass(frozen=True)
class StepChange:
    host: str
    service: str
    name: str
    kind: str
    run: bool
    reason: str

    @property
    def id(self) -> str:
        return f"{self.service}/{self.name}"


@dataclass(frozen=True)
class Plan:
    deployment: str
    services: tuple[str, ...] = ()
    changes: tuple[ContainerChange, ...] = ()
    steps: tuple[StepChange, ...] = ()

    @property
    def hosts(self) -> list[str]:
        return sorted({c.host for c in self.changes} | {s.host for s in self.steps})

    @property
    def has_changes(self) -> bool:
        return any(c.action.changes for c in self.changes) or any(s.run for s in self.steps)

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
        data = asdict(self)
        for change in data["changes"]:
            change["action"] = change["action"].value
        return data
