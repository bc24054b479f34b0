"""Typed events emitted by the scheduler; reporters (berth.ui) render them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum


class Status(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    CACHED = "cached"  # succeeded without doing work (build cache hit, noop action)
    FAILED = "failed"
    SKIPPED = "skipped"  # a dependency failed (e.g. parent-failed for images)

    @property
    def done(self) -> bool:
        return self not in (Status.PENDING, Status.RUNNING)

    @property
    def ok(self) -> bool:
        return self in (Status.SUCCEEDED, Status.CACHED)


class EventKind(str, Enum):
    STARTED = "started"
    PROGRESS = "progress"  # a log line or a short status text while running
    FINISHED = "finished"  # status says how


@dataclass(frozen=True)
class Event:
    kind: EventKind
    key: str
    status: Status
    message: str = ""
    elapsed: float = 0.0
    at: float = field(default_factory=time.time)
