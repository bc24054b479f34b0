"""Swap one container for another version of itself (upgrade, rollback), keeping the old one until the new serves.

`stop-first`: stop old, rename it aside, create + start new, wait healthy, remove old.
`overlap`: rename old aside while it keeps serving, start new on the same SO_REUSEPORT socket, wait until the new
process says it serves (`ready_log`), stop old, wait healthy, remove old. If the new one dies while the old one
still holds the port (e.g. the old process was started without SO_REUSEPORT), fall back to stop-first once.
Any failure removes the new container and puts the old one back (renamed and started), then re-raises.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection

import docker
from docker.models.containers import Container

from berth.engine.docker_engine import engine_errors
from berth.errors import DeployError, EngineError
from berth.run import actions
from berth.state.actual import ASIDE_SUFFIX
from berth.state.desired import DesiredContainer

Progress = Callable[[str], None]
Wait = Callable[[Container], None]
PORT_TAKEN = "Address already in use"  # strerror(EADDRINUSE): the old process did not bind with SO_REUSEPORT


def aside_name(want: DesiredContainer) -> str:
    return f"{want.name}{ASIDE_SUFFIX}"


def create_new(client: docker.DockerClient, deployment: str, want: DesiredContainer,
               image_id: str | None = None) -> Container:
    """Create from the definition; `image_id` pins the exact image (a rollback whose tag has moved since)."""
    return actions.create(client, deployment, want, image_id=image_id)


def wait_ready_log(container: Container, pattern: str, timeout: float, secrets: Collection[str]) -> None:
    """Until a log line of `container` matches `pattern`; DeployError when it exits or times out."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        with engine_errors(f"reading the log of {container.name}"):
            container.reload()
            text = container.logs().decode(errors="replace")
        if regex.search(text):
            return
        if container.status not in ("running", "created"):
            raise DeployError(f"container {container.name} exited with status "
                              f"{container.attrs.get('State', {}).get('ExitCode')} while starting",
                              "see its last log lines", details=actions.log_tail(container, secrets))
        if time.monotonic() > deadline:
            raise DeployError(f"container {container.name} did not log that it serves within {timeout:.0f}s",
                              "see its last log lines", details=actions.log_tail(container, secrets))
        time.sleep(0.1)


def swap(client: docker.DockerClient, deployment: str, old: Container | None, want: DesiredContainer,
         secrets: Collection[str], progress: Progress, wait: Wait, on_failure: Callable[[], None],
         image_id: str | None = None) -> Container:
    """Replace `old` (None: just create) by a container for `want`; put `old` back on any failure."""
    if old is None:
        actions.remove(client, want.name)
        created = create_new(client, deployment, want, image_id)
        actions.start(created)
        wait(created)
        return created
    _clear_aside(client, want, old)
    overlap = want.swap == "overlap" and bool(want.ready_log) and old.status == "running"
    if not overlap:
        progress(f"{want.name}: stopping the old container")
        actions.stop(old, want.stop_timeout)
    with engine_errors(f"renaming container {old.name}"):
        old.rename(aside_name(want))
    new: Container | None = None
    try:
        new = create_new(client, deployment, want, image_id)
        actions.start(new)
        if overlap:
            new = _overlap(client, deployment, old, new, want, secrets, progress, image_id)
        wait(new)
    except (DeployError, EngineError) as exc:
        _put_back(client, old, new, want, secrets, progress, on_failure, exc)
        raise
    actions.remove(client, old.id)
    return new


def _overlap(client: docker.DockerClient, deployment: str, old: Container, new: Container, want: DesiredContainer,
             secrets: Collection[str], progress: Progress, image_id: str | None) -> Container:
    """Wait for the new process to serve next to the old one, then stop the old one."""
    assert want.ready_log
    progress(f"{want.name}: new container starting next to the old one")
    try:
        wait_ready_log(new, want.ready_log, want.health_timeout, secrets)
    except DeployError:
        new.reload()
        if new.status == "running" or PORT_TAKEN not in new.logs(tail=50).decode(errors="replace"):
            raise
        progress(f"{want.name}: the new container could not share the port; stopping the old one first")
        actions.remove(client, new.id)
        actions.stop(old, want.stop_timeout)
        new = create_new(client, deployment, want, image_id)
        actions.start(new)
        return new
    progress(f"{want.name}: new container serves; stopping the old one")
    actions.stop(old, want.stop_timeout)
    return new


def _put_back(client: docker.DockerClient, old: Container, new: Container | None, want: DesiredContainer,
              secrets: Collection[str], progress: Progress, on_failure: Callable[[], None],
              exc: DeployError | EngineError) -> None:
    progress(f"{want.name}: failed, putting the old container back")
    if new is not None:
        exc.details = exc.details or actions.log_tail(new, secrets)
        actions.remove(client, new.id)
    on_failure()
    with engine_errors(f"restoring container {old.name}"):
        old.reload()
        old.rename(want.name)
        if old.status != "running":
            old.start()
    try:  # the command returns once the old one serves again
        actions.wait_healthy(client, old, want, secrets, progress)
    except DeployError as again:
        exc.details.append(f"the previous container is not healthy either: {again.message}")
    exc.message += " (the previous container was put back)"


def _clear_aside(client: docker.DockerClient, want: DesiredContainer, old: Container) -> None:
    leftover = actions.get_container(client, aside_name(want))
    if leftover is not None and leftover.id != old.id:
        actions.remove(client, leftover.id)
