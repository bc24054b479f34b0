"""Small engine actions, each taking the engine client and one planned container.

Only these functions (and berth.state.observe) touch the engine for deploys, so upgrade and rollback reuse them:
create, start, stop, restart, recreate (with the old container kept aside and put back on failure), one-shot
runs, health waits, volumes, images and config directories.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from berth.config.passwords import mask
from berth.engine import labels
from berth.engine.docker_engine import engine_errors
from berth.errors import DeployError, EngineError
from berth.state.actual import ASIDE_SUFFIX
from berth.state.desired import ROLE_ONESHOT, ROLE_SERVICE, DesiredContainer
from berth.state.hashing import canonical_json
from berth.state.observe import volume_identity

Progress = Callable[[str], None]
LOG_TAIL = 20
LOG_CONFIG = {"type": "json-file", "config": {"max-size": "50m", "max-file": "2"}}
NANO = 1_000_000_000


def container_labels(deployment: str, want: DesiredContainer, role: str = ROLE_SERVICE) -> dict[str, str]:
    return {
        labels.DEPLOYMENT: deployment, labels.SERVICE: want.service, labels.CONTAINER: want.key,
        labels.CONFIG_HASH: want.config_hash, labels.SPEC_HASH: want.spec_hash,
        labels.SPEC: canonical_json(dict(want.spec)),
        labels.ROLE: role, labels.MANAGED: "true",
    }


def _binds(volumes: list[str]) -> dict[str, dict[str, str]]:
    """`source:target[:mode]` strings as the SDK's mapping form.

    Why not the list form: the SDK derives each container-side path from a string by dropping only a `:ro`/`:rw`
    suffix, so `/run/netns:/run/netns:rshared` also declared an anonymous volume at `/run/netns:rshared`, and
    every such container left an empty volume behind.
    """
    out: dict[str, dict[str, str]] = {}
    for text in volumes:
        source, _, rest = text.partition(":")
        target, _, mode = rest.partition(":")
        if source in out:
            raise DeployError(f"volume source {source} is mounted twice in one container ({text})",
                              "mount it once and use a sub-path, or another volume")
        out[source] = {"bind": target, "mode": mode or "rw"}
    return out


def create_kwargs(want: DesiredContainer) -> dict[str, Any]:
    """docker SDK `containers.create` arguments from the plain-data spec."""
    s = want.spec
    kwargs: dict[str, Any] = {
        "image": s["image"], "name": want.name, "detach": True, "network_mode": s["network_mode"],
        "environment": dict(s["environment"]), "volumes": _binds(s["volumes"]), "cap_add": list(s["cap_add"]) or None,
        "privileged": s["privileged"], "devices": list(s["devices"]) or None,
        "security_opt": list(s["security_opt"]) or None, "init": s["init"] or None,
        "restart_policy": {"Name": s["restart"]} if s["restart"] != "no" else None, "log_config": LOG_CONFIG,
    }
    if s.get("pid_mode"):
        kwargs["pid_mode"] = s["pid_mode"]
    if s.get("ipc_mode"):
        kwargs["ipc_mode"] = s["ipc_mode"]
    if s.get("healthcheck"):
        h = s["healthcheck"]
        kwargs["healthcheck"] = {"test": h["test"], "interval": int(h["interval"] * NANO),
                                 "timeout": int(h["timeout"] * NANO), "retries": h["retries"],
                                 "start_period": int(h["start_period"] * NANO)}
    return {k: v for k, v in kwargs.items() if v is not None}


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
        tmp = path / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.replace(tmp, target)


def ensure_volume(client: docker.DockerClient, deployment: str, name: str) -> None:
    with engine_errors(f"creating volume {name}"):
        try:
            client.volumes.get(name)
        except docker.errors.NotFound:
            client.volumes.create(name, labels={labels.DEPLOYMENT: deployment, labels.MANAGED: "true",
                                                labels.VOLUME_ID: uuid.uuid4().hex})


def volume_ids(client: docker.DockerClient, deployment: str) -> dict[str, str]:
    with engine_errors("listing volumes"):
        found = client.api.volumes(filters={"label": f"{labels.DEPLOYMENT}={deployment}"}).get("Volumes") or []
    return {v["Name"]: volume_identity(v) for v in found}


def ensure_image(client: docker.DockerClient, ref: str, progress: Progress) -> str:
    """The image id of `ref`, pulling it when it is missing (only possible from a configured registry)."""
    try:
        return str(client.images.get(ref).id)
    except docker.errors.ImageNotFound:
        pass
    hint = f"build it with `berth build {ref.rsplit('/', 1)[-1].split(':')[0]}` or set docker_registry to pull it"
    if ref.count("/") < 2:  # no registry prefix: nowhere to pull from
        raise DeployError(f"image {ref} is not present on the engine", hint)
    progress(f"pulling {ref}")
    try:
        return str(client.images.pull(ref).id)
    except docker.errors.APIError as exc:
        raise DeployError(f"image {ref} is not present and cannot be pulled: {exc.explanation}", hint) from exc


# --- containers ----------------------------------------------------------------------------------------------------


def get_container(client: docker.DockerClient, ident: str) -> Container | None:
    try:
        return client.containers.get(ident)
    except docker.errors.NotFound:
        return None


UNCONFINED_PATHS = "systempaths=unconfined"


def create(client: docker.DockerClient, deployment: str, want: DesiredContainer, role: str = ROLE_SERVICE,
           image_id: str | None = None) -> Container:
    """The one way berth creates a container; `image_id` pins the exact image (a rollback whose tag moved)."""
    kwargs = {"labels": container_labels(deployment, want, role), **create_kwargs(want)}
    if image_id:
        kwargs["image"] = image_id
    with engine_errors(f"creating container {want.name}"):
        if UNCONFINED_PATHS not in kwargs.get("security_opt", []):
            return client.containers.create(**kwargs)
        return _create_unconfined(client, kwargs)


def _create_unconfined(client: docker.DockerClient, kwargs: dict[str, Any]) -> Container:
    """`systempaths=unconfined` is a docker CLI option, not an engine one: the CLI sends empty MaskedPaths and
    ReadonlyPaths instead (a writable /proc/sys for sysctls, needed by neutron agents and nova-compute). The SDK
    has no parameter for them, so they are set on the host config it builds."""
    from docker.models.containers import _create_container_args

    kwargs["security_opt"] = [o for o in kwargs["security_opt"] if o != UNCONFINED_PATHS] or None
    args = _create_container_args({**{k: v for k, v in kwargs.items() if v is not None},
                                   "version": client.api._version})
    args["host_config"]["MaskedPaths"] = []
    args["host_config"]["ReadonlyPaths"] = []
    created = client.api.create_container(**args)
    return client.containers.get(created["Id"])


def start(container: Container) -> None:
    with engine_errors(f"starting container {container.name}"):
        container.start()


def stop(container: Container, timeout: int) -> None:
    with engine_errors(f"stopping container {container.name}"):
        container.stop(timeout=timeout)


def remove(client: docker.DockerClient, ident: str) -> None:
    """Remove a container (running or not); already gone is fine."""
    container = get_container(client, ident)
    if container is not None:
        with engine_errors(f"removing container {container.name}"):
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass


def log_tail(container: Container | None, secrets: Collection[str], lines: int = LOG_TAIL) -> list[str]:
    if container is None:
        return []
    try:
        text = container.logs(tail=lines).decode(errors="replace")
    except docker.errors.APIError:
        return ["(logs unavailable)"]
    return [mask(line, secrets) for line in text.rstrip().splitlines()[-lines:]]


def wait_healthy(client: docker.DockerClient, container: Container, want: DesiredContainer,
                 secrets: Collection[str], progress: Progress) -> None:
    """Probe the container's own health check by exec until it passes (faster than the engine's interval).

    Fails at once if the container exits or restarts during the wait, or after `health_timeout`, naming the
    container with its last logs.
    """
    deadline = time.monotonic() + want.health_timeout
    last = ""
    restarts_before: int | None = None  # restarts before this wait (an earlier crash since fixed) are history
    while True:
        with engine_errors(f"inspecting container {container.name}"):
            container.reload()
        state = container.attrs.get("State", {})
        restarts = int(container.attrs.get("RestartCount", 0) or 0)
        restarts_before = restarts if restarts_before is None else restarts_before
        if state.get("Restarting") or restarts > restarts_before:
            raise DeployError(f"container {container.name} keeps restarting (exit status {state.get('ExitCode')})",
                              f"see `berth logs {want.key}`; fix the cause and run `berth deploy` again",
                              details=log_tail(container, secrets))
        if not state.get("Running"):
            raise DeployError(f"container {container.name} exited with status {state.get('ExitCode')} while starting",
                              f"see `berth logs {want.key}`; fix the cause and run `berth deploy` again",
                              details=log_tail(container, secrets))
        if not want.health:
            return
        code, output = _probe(container, want.health)
        if code == 0:
            return
        last = output
        if time.monotonic() > deadline:
            raise DeployError(f"container {container.name} did not become healthy within "
                              f"{want.health_timeout:.0f}s ({last.strip() or 'no answer'})",
                              f"see `berth logs {want.key}`; fix the cause and run `berth deploy` again",
                              details=log_tail(container, secrets))
        time.sleep(0.3)


def _probe(container: Container, health: tuple[str, ...]) -> tuple[int, str]:
    try:
        result = container.exec_run(["berth-health", *health], demux=False)
    except docker.errors.APIError as exc:
        return 1, str(getattr(exc, "explanation", exc))
    return int(result.exit_code or 0), (result.output or b"").decode(errors="replace")


def replace_container(client: docker.DockerClient, deployment: str, old: Container, want: DesiredContainer,
                      secrets: Collection[str], progress: Progress, on_failure: Callable[[], None],
                      wait: Callable[[Container], None]) -> Container:
    """Recreate: stop old, rename it aside, create + start new, wait healthy, remove old; or put the old one back.

    `on_failure` restores what the old container needs (its previous config files) before it is restarted;
    `wait` waits for the new container's health (the caller times it).
    """
    aside = f"{want.name}{ASIDE_SUFFIX}"
    leftover = get_container(client, aside)
    if leftover is not None and leftover.id != old.id:
        remove(client, leftover.id)
    progress(f"{want.name}: stopping the old container")
    stop(old, want.stop_timeout)
    with engine_errors(f"renaming container {old.name}"):
        old.rename(aside)
    new: Container | None = None
    try:
        new = create(client, deployment, want)
        start(new)
        wait(new)
    except (DeployError, EngineError) as exc:
        progress(f"{want.name}: failed, putting the old container back")
        if new is not None:
            exc.details = exc.details or log_tail(new, secrets)
            remove(client, new.id)
        on_failure()
        with engine_errors(f"restoring container {old.name}"):
            old.rename(want.name)
            old.start()
        exc.message += " (the previous container was put back)"
        raise
    remove(client, old.id)
    return new


def run_oneshot(client: docker.DockerClient, deployment: str, want: DesiredContainer, timeout: float,
                secrets: Collection[str], progress: Progress) -> list[str]:
    """Run a one-shot container to completion; return its log tail; remove it whatever happened."""
    remove(client, want.name)
    container = create(client, deployment, want, ROLE_ONESHOT)
    try:
        start(container)
        try:
            result = container.wait(timeout=timeout)
        except Exception as exc:  # requests' ReadTimeout, or the engine going away
            raise DeployError(f"one-shot step {want.name} did not finish within {timeout:.0f}s",
                              "see the log lines above; run `berth deploy` again once fixed",
                              details=log_tail(container, secrets)) from exc
        code = int(result.get("StatusCode", 1))
        tail = log_tail(container, secrets)
        if code != 0:
            raise DeployError(f"one-shot step {want.name} exited with status {code}",
                              "fix the cause shown in its log lines, then run `berth deploy` again", details=tail)
        return tail
    finally:
        remove(client, container.id)


def exec_checked(container: Container, argv: list[str], environment: Mapping[str, str], what: str,
                 secrets: Collection[str]) -> str:
    """Run a command inside a running container; a non-zero exit is a DeployError with its output."""
    with engine_errors(what):
        result = container.exec_run(argv, environment=dict(environment))
    output = (result.output or b"").decode(errors="replace")
    if result.exit_code != 0:
        raise DeployError(f"{what} failed in {container.name} (exit {result.exit_code})",
                          "see the output above; run `berth deploy` again once fixed",
                          details=[mask(line, secrets) for line in output.strip().splitlines()[-LOG_TAIL:]])
    return output
