"""One retry loop for "the other side is not there yet": a call tried again while its error is a transient one
and patience remains, then that error is raised to the caller, which says what it means."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def retried(attempt: Callable[[], T], transient: Callable[[Exception], bool], patience: float,
            pause: float = 1.0, *, clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> T:
    """`attempt()`'s result; an error `transient` accepts is tried again every `pause` seconds until `patience`
    runs out, any other error (a wrong password) at once."""
    deadline = clock() + patience
    while True:
        try:
            return attempt()
        except Exception as exc:
            if not transient(exc) or clock() >= deadline:
                raise
        sleep(pause)
