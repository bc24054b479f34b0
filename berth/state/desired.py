"""The desired state of a deployment: what render() computed from services + configuration.

Plain frozen values, so the planner is a pure function over them and tests can build them by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from berth.frozen import frozen
from berth.state.hashing import canonical_json, config_hash, sha256, spec_hash

ROLE_SERVICE = "service"
ROLE_ONESHOT = "oneshot"



@dataclass(frozen=True)
class DesiredContainer:
    """One long-running container on one host. `spec` holds every create-time field as plain JSON data."""

    key: str
    service: str
    name: str
    host: str
    image: str  # reference, e.g. berth/keystone:zed
    image_id: str | None  # None when the image is not present on the engine
    spec: Mapping[str, Any] = field(default_factory=frozen)
    files: Mapping[str, str] = field(default_factory=frozen)  # config dir: file name -> content
    health: tuple[str, ...] = ()  # berth-health arguments; () = running is enough
    health_timeout: float = 120.0
    stop_timeout: int = 10
    swap: str = "stop-first"  # how upgrade/rollback replace it (see ContainerDef.swap)
    ready_log: str | None = None  # regex on the new container's log: it serves (needed by swap "overlap")
    restart_with: tuple[str, ...] = ()  # keys of containers whose (re)start restarts this one too

    @property
    def spec_hash(self) -> str:
        return spec_hash(self.spec, self.image_id)

    @property
    def config_hash(self) -> str:
        return config_hash(self.spec, self.image_id, self.files)


@dataclass(frozen=True)
class DesiredStep:
    """A bootstrap step: a one-shot container, a database, or a Keystone registration.

    Database and register payloads say where to connect (MariaDB host/port, Keystone auth URL), so whoever
    applies the step needs no configuration; secrets stay password keys, looked up at apply time.

    `base` identifies what the step does (its definition, image, rendered files); the planner combines it
    with the identities of `stamp_volumes` into the stamp that says whether the step already ran.
    """

    service: str
    name: str
    kind: str  # "oneshot" | "database" | "register"
    host: str
    phase: str = "before"  # before or after the service's containers
    base: str = ""
    stamp_volumes: tuple[str, ...] = ()
    container: DesiredContainer | None = None  # oneshot: the container to run once
    payload: Mapping[str, Any] = field(default_factory=frozen)  # database / register data (secrets by key)
    timeout: float = 300.0
    # "deployment": rendered onto one host only (the first of its group); "host": onto every host of its group
    scope: str = "deployment"

    @property
    def id(self) -> str:
        return f"{self.service}/{self.name}"


def step_stamp(step: DesiredStep, volumes: Mapping[str, str]) -> str | None:
    """What a completed run of `step` is recorded as; None when one of its volumes does not exist yet."""
    idents = []
    for name in step.stamp_volumes:
        if name not in volumes:
            return None
        idents.append(volumes[name])
    return sha256(canonical_json({"base": step.base, "volumes": idents}))


@dataclass(frozen=True)
class ServiceUnit:
    """A service as the executor schedules it: its containers and steps on one host, and its dependencies."""

    name: str
    host: str
    depends_on: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DesiredState:
    deployment: str
    services: tuple[ServiceUnit, ...] = ()
    containers: tuple[DesiredContainer, ...] = ()
    steps: tuple[DesiredStep, ...] = ()
    secrets: frozenset[str] = frozenset()  # values to mask in every output
    upgrade_steps: tuple[DesiredStep, ...] = ()  # service.yml `upgrade.steps`, run only by `berth upgrade`
    replaced: Mapping[str, tuple[str, ...]] = field(default_factory=frozen)  # service -> steps upgrade replaces

    def containers_of(self, service: str) -> list[DesiredContainer]:
        return [c for c in self.containers if c.service == service]

    def steps_of(self, service: str) -> list[DesiredStep]:
        return [s for s in self.steps if s.service == service]

    def container(self, key: str) -> DesiredContainer | None:
        return next((c for c in self.containers if c.key == key), None)


# --- image ids learnt while applying -------------------------------------------------------------------------------
# A plan made before its images were present (to be pulled by the run, or planned offline for another host) has no
# image ids. Once the executor holds the images it fills them in, so container labels, step stamps and history carry
# the hashes the next plan computes (otherwise every later plan would see a change).


def container_with_image_id(want: DesiredContainer, ids: Mapping[str, str]) -> DesiredContainer:
    if want.image_id is not None or want.image not in ids:
        return want
    return replace(want, image_id=ids[want.image])


def step_with_image_id(step: DesiredStep, ids: Mapping[str, str]) -> DesiredStep:
    if step.container is None:
        return step
    container = container_with_image_id(step.container, ids)
    if container is step.container:
        return step
    # a one-shot step is identified by its container's config hash, which includes the image id
    base = container.config_hash if step.kind == "oneshot" else step.base
    return replace(step, container=container, base=base)


def with_image_ids(desired: DesiredState, ids: Mapping[str, str]) -> DesiredState:
    return replace(desired, containers=tuple(container_with_image_id(c, ids) for c in desired.containers),
                   steps=tuple(step_with_image_id(s, ids) for s in desired.steps),
                   upgrade_steps=tuple(step_with_image_id(s, ids) for s in desired.upgrade_steps))
