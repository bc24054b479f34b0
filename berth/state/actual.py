"""Observed facts about a deployment, as plain frozen values (the planner's other input)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.frozen import frozen

ASIDE_SUFFIX = "--aside"  # a container kept aside during a recreate (put back if the new one fails)



@dataclass(frozen=True)
class ActualContainer:
    id: str
    name: str
    key: str
    service: str
    role: str = "service"
    image_id: str = ""
    spec_hash: str = ""
    config_hash: str = ""  # of the config the running process loaded (a restart updates it, not the label)
    spec: Mapping[str, Any] = field(default_factory=frozen)  # the create-time definition (for field diffs)
    state: str = "running"  # running | exited | created | restarting | paused | dead
    health: str | None = None  # healthy | unhealthy | starting | None (no health check)
    status_text: str = ""
    files: Mapping[str, str] = field(default_factory=frozen)  # config files last written for it

    @property
    def aside(self) -> bool:
        return self.name.endswith(ASIDE_SUFFIX)

    @property
    def running(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class ActualState:
    deployment: str
    containers: tuple[ActualContainer, ...] = ()
    images: Mapping[str, str] = field(default_factory=frozen)  # reference -> image id
    volumes: Mapping[str, str] = field(default_factory=frozen)  # volume name -> identity (berth.volume-id)
    stamps: Mapping[str, str] = field(default_factory=frozen)  # step id -> stamp of its last success
    pins: Mapping[str, str] = field(default_factory=frozen)  # service -> image tag upgrade/rollback keep it on

    def main(self, key: str) -> ActualContainer | None:
        """The container currently serving `key` (not an aside copy, not a one-shot)."""
        return next((c for c in self.containers if c.key == key and c.role == "service" and not c.aside), None)
