"""Typed events emitted by the scheduler; reporters (berth.ui) render them."""

from __future__ import annotations

import time
from collections.abc import Callable
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


def progress_events(progress: Callable[[str], None]) -> Callable[[Event], None]:
    """An event sink that passes the tasks' progress lines on (commands that print lines, not a live view)."""
    def sink(event: Event) -> None:
        if event.kind is EventKind.PROGRESS and event.message:
            progress(event.message)
    return sink
