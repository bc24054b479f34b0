"""Small engine actions, each taking the engine and one planned container.

Only these functions, berth.run.swap (the one reversible replace) and berth.state.observe touch the engine for
deploys, so upgrade and rollback reuse them: create, start, stop, one-shot runs, health waits, volumes, images and
config directories.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from berth.config.passwords import mask
from berth.engine import labels
from berth.engine.base import ContainerInfo, Engine, doing
from berth.errors import DeployError, EngineError, EngineNotFound, EngineRefused
from berth.private import write_private
from berth.state.desired import ROLE_ONESHOT, ROLE_SERVICE, DesiredContainer
from berth.state.hashing import canonical_json
from berth.state.observe import volume_identity

Progress = Callable[[str], None]
LOG_TAIL = 20


def container_labels(deployment: str, want: DesiredContainer, role: str = ROLE_SERVICE) -> dict[str, str]:
    return {
        labels.DEPLOYMENT: deployment, labels.SERVICE: want.service, labels.CONTAINER: want.key,
        labels.CONFIG_HASH: want.config_hash, labels.SPEC_HASH: want.spec_hash,
        labels.SPEC: canonical_json(dict(want.spec)),
        labels.ROLE: role, labels.MANAGED: "true",
    }


# --- config directories, volumes, images ---------------------------------------------------------------------------


def write_config_dir(path: Path, files: Mapping[str, str]) -> None:
    """The container's config directory: exactly `files`, readable by root only (it holds secrets)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    for stale in path.iterdir():
        if stale.name not in files:
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    for name, content in files.items():
        target = path / name
        try:
            if target.read_text() == content:
                continue
        except (OSError, UnicodeDecodeError):
            pass
        write_private(target, content, sync=False)


def ensure_volume(engine: Engine, deployment: str, name: str) -> None:
    with doing(f"creating volume {name}"):
        if engine.volume(name) is not None:
            return
        engine.create_volume(name, {labels.DEPLOYMENT: deployment, labels.MANAGED: "true",
                                     labels.VOLUME_ID: uuid.uuid4().hex})


def volume_ids(engine: Engine, deployment: str) -> dict[str, str]:
    return {v.name: volume_identity(v) for v in engine.volumes({labels.DEPLOYMENT: deployment})}


def ensure_image(engine: Engine, ref: str, progress: Progress) -> str:
    """The image id of `ref`, pulling it when it is missing (only possible from a configured registry)."""
    found = engine.image(ref)
    if found is not None:
        return found.id
    hint = f"build it with `berth build {ref.rsplit('/', 1)[-1].split(':')[0]}` or set docker_registry to pull it"
    if ref.count("/") < 2:  # no registry prefix: nowhere to pull from
        raise DeployError(f"image {ref} is not present on the engine", hint)
    progress(f"pulling {ref}")
    try:
        return engine.pull(ref).id
    except EngineRefused as exc:
        raise DeployError(f"image {ref} is not present and cannot be pulled: {exc.explanation}", hint) from exc


# --- containers ----------------------------------------------------------------------------------------------------


def get_container(engine: Engine, ident: str) -> ContainerInfo | None:
    return engine.container(ident)


def create(engine: Engine, deployment: str, want: DesiredContainer, role: str = ROLE_SERVICE,
           image_id: str | None = None) -> ContainerInfo:
    """The one way berth creates a container; `image_id` pins the exact image (a rollback whose tag moved)."""
    spec = {**want.spec, "image": image_id} if image_id else want.spec
    return engine.create_container(want.name, spec, container_labels(deployment, want, role))


def start(engine: Engine, container: ContainerInfo) -> None:
    engine.start(container.name)


def stop(engine: Engine, container: ContainerInfo, timeout: int) -> None:
    engine.stop(container.name, timeout)


def remove(engine: Engine, ident: str) -> None:
    """Remove a container (running or not); already gone is fine."""
    try:
        engine.remove(ident, force=True)
    except EngineNotFound:
        pass


def log_tail(engine: Engine, container: ContainerInfo | None, secrets: Collection[str],
             lines: int = LOG_TAIL) -> list[str]:
    if container is None:
        return []
    try:
        text = engine.logs(container.id, tail=lines)
    except EngineError:
        return ["(logs unavailable)"]
    return [mask(line, secrets) for line in text.rstrip().splitlines()[-lines:]]


def _inspect(engine: Engine, container: ContainerInfo) -> ContainerInfo:
    with doing(f"inspecting container {container.name}"):
        found = engine.container(container.id)
    if found is None:
        raise DeployError(f"container {container.name} disappeared while starting",
                          "was it removed by hand? run `berth deploy` again")
    return found


def wait_healthy(engine: Engine, container: ContainerInfo, want: DesiredContainer,
                 secrets: Collection[str], progress: Progress) -> None:
    """Probe the container's own health check by exec until it passes (faster than the engine's interval).

    Fails at once if the container exits or restarts during the wait, or after `health_timeout`, naming the
    container with its last logs.
    """
    deadline = time.monotonic() + want.health_timeout
    last = ""
    restarts_before: int | None = None  # restarts before this wait (an earlier crash since fixed) are history
    while True:
        now = _inspect(engine, container)
        restarts_before = now.restart_count if restarts_before is None else restarts_before
        if now.restarting or now.restart_count > restarts_before:
            raise DeployError(f"container {now.name} keeps restarting (exit status {now.exit_code})",
                              f"see `berth logs {want.key}`; fix the cause and run `berth deploy` again",
                              details=log_tail(engine, now, secrets))
        if not now.running:
            raise DeployError(f"container {now.name} exited with status {now.exit_code} while starting",
                              f"see `berth logs {want.key}`; fix the cause and run `berth deploy` again",
                              details=log_tail(engine, now, secrets))
        if not want.health:
            return
        code, output = _probe(engine, now, want.health)
        if code == 0:
            return
        last = output
        if time.monotonic() > deadline:
            raise DeployError(f"container {now.name} did not become healthy within "
                              f"{want.health_timeout:.0f}s ({last.strip() or 'no answer'})",
                              f"see `berth logs {want.key}`; fix the cause and run `berth deploy` again",
                              details=log_tail(engine, now, secrets))
        time.sleep(0.3)


def _probe(engine: Engine, container: ContainerInfo, health: tuple[str, ...]) -> tuple[int, str]:
    try:
        result = engine.exec(container.id, ["berth-health", *health])
    except EngineRefused as exc:
        return 1, exc.explanation
    return result.code, result.output


def run_oneshot(engine: Engine, deployment: str, want: DesiredContainer, timeout: float,
                secrets: Collection[str], progress: Progress) -> list[str]:
    """Run a one-shot container to completion; return its log tail; remove it whatever happened."""
    remove(engine, want.name)
    container = create(engine, deployment, want, ROLE_ONESHOT)
    try:
        start(engine, container)
        try:
            code = engine.wait(container.id, timeout)
        except EngineError as exc:  # the read timed out, or the engine went away
            raise DeployError(f"one-shot step {want.name} did not finish within {timeout:.0f}s",
                              "see the log lines above; run `berth deploy` again once fixed",
                              details=log_tail(engine, container, secrets)) from exc
        tail = log_tail(engine, container, secrets)
        if code != 0:
            raise DeployError(f"one-shot step {want.name} exited with status {code}",
                              "fix the cause shown in its log lines, then run `berth deploy` again", details=tail)
        return tail
    finally:
        remove(engine, container.id)


def exec_checked(engine: Engine, container: ContainerInfo, argv: list[str], environment: Mapping[str, str],
                 what: str, secrets: Collection[str]) -> str:
    """Run a command inside a running container; a non-zero exit is a DeployError with its output."""
    with doing(what):
        result = engine.exec(container.name, argv, environment)
    if result.code != 0:
        raise DeployError(f"{what} failed in {container.name} (exit {result.code})",
                          "see the output above; run `berth deploy` again once fixed",
                          details=[mask(line, secrets) for line in result.output.strip().splitlines()[-LOG_TAIL:]])
    return result.output
