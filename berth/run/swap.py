"""The one reversible replace: swap a container for another version of itself, keeping the old one until the new
one serves. Deploy's recreate, upgrade, rollback and the finishing of an interrupted upgrade all use it.

`stop-first`: stop old, rename it aside, create + start new, wait healthy, remove old.
`overlap`: rename old aside while it keeps serving, start new on the same SO_REUSEPORT socket, wait until the new
process says it serves (`ready_log`), stop old, wait healthy, remove old. If the new one dies while the old one
still holds the port (e.g. the old process was started without SO_REUSEPORT), fall back to stop-first once.
Any failure removes the new container, restores the old one's config files (`on_failure`), puts the old one back
(renamed and started) and waits for it, then re-raises with "(the previous container was put back)".
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from berth.engine.base import ContainerInfo, Engine, doing
from berth.errors import DeployError, EngineError
from berth.run import actions
from berth.state.actual import ASIDE_SUFFIX
from berth.state.desired import DesiredContainer

Progress = Callable[[str], None]
Wait = Callable[[ContainerInfo], None]
PORT_TAKEN = "Address already in use"  # strerror(EADDRINUSE): the old process did not bind with SO_REUSEPORT


def aside_name(want: DesiredContainer) -> str:
    return f"{want.name}{ASIDE_SUFFIX}"


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Swap:
    """One replace: what to create, how to wait for it, and what the old one needs back on failure."""

    engine: Engine
    deployment: str
    want: DesiredContainer
    secrets: Collection[str]
    progress: Progress
    wait: Wait
    on_failure: Callable[[], None] = _nothing
    image_id: str | None = None  # pins the exact image (a rollback whose tag has moved since)

    def create(self) -> ContainerInfo:
        created = actions.create(self.engine, self.deployment, self.want, image_id=self.image_id)
        actions.start(self.engine, created)
        return created


def swap(engine: Engine, deployment: str, old: ContainerInfo | None, want: DesiredContainer,
         secrets: Collection[str], progress: Progress, wait: Wait, on_failure: Callable[[], None] = _nothing,
         image_id: str | None = None, allow_overlap: bool = True) -> ContainerInfo:
    """Replace `old` (None: just create) by a container for `want`; put `old` back on any failure."""
    s = Swap(engine, deployment, want, secrets, progress, wait, on_failure, image_id)
    if old is None:
        actions.remove(engine, want.name)  # a stray container with the same name (e.g. unlabelled remains)
        created = s.create()
        wait(created)
        return created
    _clear_aside(engine, want, old)
    overlap = allow_overlap and want.swap == "overlap" and bool(want.ready_log) and old.running
    if not overlap:
        progress(f"{want.name}: stopping the old container")
        actions.stop(engine, old, want.stop_timeout)
    engine.rename(old.name, aside_name(want))
    return _serve(s, dataclasses.replace(old, name=aside_name(want)), None, overlap)


def finish(engine: Engine, deployment: str, aside: ContainerInfo | None, new: ContainerInfo,
           want: DesiredContainer, secrets: Collection[str], progress: Progress, wait: Wait) -> ContainerInfo:
    """An interrupted swap whose new container exists: make sure it serves, then drop the old one kept aside
    (or put that one back)."""
    return _serve(Swap(engine, deployment, want, secrets, progress, wait), aside, new, False)


def _serve(s: Swap, old: ContainerInfo | None, new: ContainerInfo | None, overlap: bool) -> ContainerInfo:
    """From "old is aside" to "new serves, old removed"; or the old one put back and the failure re-raised."""
    try:
        if new is None:
            new = s.create()
            if overlap:
                assert old is not None
                new = _overlap(s, old, new)
        elif not (s.engine.container(new.id) or new).running:
            actions.start(s.engine, new)
        s.wait(new)
    except (DeployError, EngineError) as exc:
        if old is None:
            raise
        _put_back(s, old, new, exc)
        raise
    if old is not None:
        actions.remove(s.engine, old.id)
    return new


def wait_ready_log(engine: Engine, container: ContainerInfo, pattern: str, timeout: float,
                   secrets: Collection[str]) -> None:
    """Until a log line of `container` matches `pattern`; DeployError when it exits or times out."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        with doing(f"reading the log of {container.name}"):
            now = engine.container(container.id) or container
            text = engine.logs(container.id)
        if regex.search(text):
            return
        if now.state not in ("running", "created"):
            raise DeployError(f"container {now.name} exited with status {now.exit_code} while starting",
                              "see its last log lines", details=actions.log_tail(engine, now, secrets))
        if time.monotonic() > deadline:
            raise DeployError(f"container {now.name} did not log that it serves within {timeout:.0f}s",
                              "see its last log lines", details=actions.log_tail(engine, now, secrets))
        time.sleep(0.1)


def _overlap(s: Swap, old: ContainerInfo, new: ContainerInfo) -> ContainerInfo:
    """Wait for the new process to serve next to the old one, then stop the old one."""
    want = s.want
    assert want.ready_log
    s.progress(f"{want.name}: new container starting next to the old one")
    try:
        wait_ready_log(s.engine, new, want.ready_log, want.health_timeout, s.secrets)
    except DeployError:
        now = s.engine.container(new.id)
        if (now is not None and now.running) or PORT_TAKEN not in s.engine.logs(new.id, tail=50):
            raise
        s.progress(f"{want.name}: the new container could not share the port; stopping the old one first")
        actions.remove(s.engine, new.id)
        actions.stop(s.engine, old, want.stop_timeout)
        return s.create()
    s.progress(f"{want.name}: new container serves; stopping the old one")
    actions.stop(s.engine, old, want.stop_timeout)
    return new


def _put_back(s: Swap, old: ContainerInfo, new: ContainerInfo | None, exc: DeployError | EngineError) -> None:
    """Remove the new one, restore the old one's files, rename it back, start it and wait for it."""
    engine, want = s.engine, s.want
    s.progress(f"{want.name}: failed, putting the old container back")
    if new is not None:
        exc.details = exc.details or actions.log_tail(engine, new, s.secrets)
        actions.remove(engine, new.id)
    s.on_failure()
    with doing(f"restoring container {want.name}"):
        engine.rename(old.name, want.name)
        back = engine.container(old.id) or old
        if not back.running:
            engine.start(want.name)
    try:  # the command returns once the old one serves again
        actions.wait_healthy(engine, back, want, s.secrets, s.progress)
    except DeployError as again:
        exc.details.append(f"the previous container is not healthy either: {again.message}")
    exc.message += " (the previous container was put back)"


def _clear_aside(engine: Engine, want: DesiredContainer, old: ContainerInfo) -> None:
    leftover = actions.get_container(engine, aside_name(want))
    if leftover is not None and leftover.id != old.id:
        actions.remove(engine, leftover.id)
