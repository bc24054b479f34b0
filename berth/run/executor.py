"""Apply a plan on one host: one task per service over the dependency graph, independent services in parallel.

Per service: images, volumes, config directories, `before` steps, container actions, health waits, `after`
steps, then leftovers. Every step is idempotent and stamped only after success, so running the deploy again
after a failure finishes the job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.engine.base import ContainerInfo, Engine
from berth.errors import DeployError
from berth.plan.model import Action, ContainerChange, Plan
from berth.run import actions, swap
from berth.run.database import ensure_database
from berth.run.events import Status
from berth.run.scheduler import EventSink, RunResult, Task, run_graph
from berth.state.actual import ActualState
from berth.state.desired import (
    DesiredContainer,
    DesiredState,
    DesiredStep,
    ServiceUnit,
    container_with_image_id,
    step_stamp,
    step_with_image_id,
)
from berth.state.store import StateStore

Progress = Callable[[str], None]


@dataclass
class Timings:
    """Where the time went: the part berth cannot shorten (steps, health waits) vs everything else."""

    steps: float = 0.0
    health: float = 0.0
    records: list[tuple[str, str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, what: str, seconds: float) -> None:
        with self.lock:
            self.records.append((kind, what, seconds))
            if kind == "step":
                self.steps += seconds
            else:
                self.health += seconds


@dataclass
class HostContext:
    """What the executor needs besides the plan: engine, desired values, state files, Keystone access."""

    engine: Engine
    desired: DesiredState
    deployment_dir: Path
    passwords: Mapping[str, Any]
    actual: ActualState | None = None  # what was observed when the plan was made (health, previous files)
    registrar: Any = None  # berth.lifecycle.keystone_register.Registrar (connects lazily)


class Executor:
    def __init__(self, host: HostContext, plan: Plan, max_workers: int = 4) -> None:
        self.h = host
        self.plan = plan
        self.max_workers = max_workers
        self.store = StateStore(host.deployment_dir)
        self.timings = Timings()
        self.results: dict[str, list[str]] = {}  # service -> what was done (for --json and the summary)

    @property
    def secrets(self) -> frozenset[str]:
        return self.h.desired.secrets

    def tasks(self) -> list[Task]:
        selected = set(self.plan.services)
        units = [u for u in self.h.desired.services if u.name in selected]
        tasks = [Task(u.name, self._runner(u), frozenset(d for d in u.depends_on if d in selected), "deploy")
                 for u in units]
        known = {u.name for u in units}
        for service in sorted({c.service for c in self.plan.changes} - known):
            tasks.append(Task(service, self._remover(service), frozenset(), "remove"))
        return tasks

    def run(self, on_event: EventSink | None = None) -> RunResult:
        return run_graph(self.tasks(), max_workers=self.max_workers, on_event=on_event)

    # --- one service ---------------------------------------------------------------------------------------------

    def _runner(self, unit: ServiceUnit) -> Callable[[Progress], Status]:
        return lambda progress: self.converge_service(unit, progress)

    def _remover(self, service: str) -> Callable[[Progress], Status]:
        def run(progress: Progress) -> Status:
            self._remove_leftovers(service, progress)
            return Status.SUCCEEDED
        return run

    def converge_service(self, unit: ServiceUnit, progress: Progress) -> Status:
        changes = self.plan.for_service(unit.name)
        steps = {s.name: s for s in self.plan.steps_for(unit.name) if s.run}
        wanted = self.h.desired.containers_of(unit.name)
        done: list[str] = self.results.setdefault(unit.name, [])
        if not steps and all(c.action is Action.NOOP for c in changes):
            self._wait_starting(changes, wanted, progress)
            return Status.CACHED
        ids = {w.image: actions.ensure_image(self.h.engine, w.image, progress) for w in wanted}
        wanted = [container_with_image_id(w, ids) for w in wanted]
        for volume in unit.volumes:
            actions.ensure_volume(self.h.engine, self.h.desired.deployment, volume)
        for want in wanted:
            actions.write_config_dir(self._config_dir(want.key), want.files)
        desired_steps = [step_with_image_id(s, ids) for s in self.h.desired.steps_of(unit.name) if s.name in steps]
        self.run_steps([s for s in desired_steps if s.phase == "before"], progress, done)
        by_key = {w.key: w for w in wanted}
        for change in changes:
            if change.action is not Action.REMOVE and change.key in by_key:
                self._apply(change, by_key[change.key], progress, done)
        self.run_steps([s for s in desired_steps if s.phase == "after"], progress, done)
        self._remove_leftovers(unit.name, progress)
        return Status.SUCCEEDED

    def _config_dir(self, key: str) -> Path:
        return self.h.deployment_dir / "config" / key

    def _wait_starting(self, changes: list[ContainerChange], wanted: list[DesiredContainer], progress: Progress) -> None:
        """A no-op service is still waited for when it was only just started (dependents need it healthy)."""
        by_key = {w.key: w for w in wanted}
        for change in changes:
            have = self.h.actual.main(change.key) if self.h.actual else None
            if have and have.health == "starting" and change.key in by_key:
                container = actions.get_container(self.h.engine, have.id)
                if container is not None:
                    self._health(container, by_key[change.key], progress)

    # --- containers ----------------------------------------------------------------------------------------------

    def _apply(self, change: ContainerChange, want: DesiredContainer, progress: Progress, done: list[str]) -> None:
        engine, deployment = self.h.engine, self.h.desired.deployment
        old = actions.get_container(engine, change.container_id) if change.container_id else None
        action = change.action if old is not None or change.action is Action.CREATE else Action.CREATE
        if action is Action.NOOP:
            return
        progress(f"{want.name}: {action.value}")
        if action is Action.CREATE:
            container = swap.swap(engine, deployment, None, want, self.secrets, progress, wait=lambda new: None)
        elif action is Action.RECREATE:
            assert old is not None
            previous = dict(self._previous_files(change))
            swap.swap(engine, deployment, old, want, self.secrets, progress,
                      wait=lambda new: self._health(new, want, progress),
                      on_failure=lambda: actions.write_config_dir(self._config_dir(want.key), previous),
                      allow_overlap=False)
            done.append(f"{want.name}: recreated")
            return
        elif action is Action.RESTART:
            assert old is not None
            actions.stop(engine, old, want.stop_timeout)
            actions.start(engine, old)
            container = old
        else:
            assert old is not None
            actions.start(engine, old)
            container = old
        self._health(container, want, progress)
        if action is Action.RESTART:
            self.store.set_applied(container.id, want.config_hash)
        done.append(f"{want.name}: {action.value}d" if action.value.endswith("e") else f"{want.name}: {action.value}ed")

    def _previous_files(self, change: ContainerChange) -> Mapping[str, str]:
        """The files the old container was started with (observed before this run rewrote them)."""
        have = self.h.actual.main(change.key) if self.h.actual else None
        return have.files if have else {}

    def _health(self, container: ContainerInfo, want: DesiredContainer, progress: Progress) -> None:
        start = time.monotonic()
        progress(f"{want.name}: waiting for health")
        try:
            actions.wait_healthy(self.h.engine, container, want, self.secrets, progress)
        finally:
            self.timings.add("health", want.name, time.monotonic() - start)

    def _remove_leftovers(self, service: str, progress: Progress) -> None:
        for change in self.plan.for_service(service):
            if change.action is Action.REMOVE and change.container_id:
                progress(f"{change.name}: removing ({change.reasons[0]})")
                actions.remove(self.h.engine, change.container_id)
                self.results.setdefault(service, []).append(f"{change.name}: removed")

    # --- steps ---------------------------------------------------------------------------------------------------

    def run_steps(self, steps: list[DesiredStep], progress: Progress, done: list[str]) -> None:
        """Run steps in order, stamping each after success (upgrade runs its own step lists with this)."""
        for step in steps:
            start = time.monotonic()
            progress(f"step {step.name}: running")
            try:
                self._run_step(step, progress)
            finally:
                self.timings.add("step", step.id, time.monotonic() - start)
            volumes = actions.volume_ids(self.h.engine, self.h.desired.deployment)
            self.store.set_stamp(step.id, step_stamp(step, volumes))
            done.append(f"step {step.name}: done in {time.monotonic() - start:.1f}s")

    def _run_step(self, step: DesiredStep, progress: Progress) -> None:
        if step.kind == "oneshot":
            assert step.container is not None
            actions.write_config_dir(self._config_dir(step.container.key), step.container.files)
            actions.run_oneshot(self.h.engine, self.h.desired.deployment, step.container, step.timeout,
                                self.secrets, progress)
        elif step.kind == "database":
            self._database(step)
        elif step.kind == "register":
            if self.h.registrar is None:
                raise DeployError(f"{step.id}: no Keystone to register with", "enable keystone in globals.yml")
            for line in self.h.registrar.register(step.payload, self.h.passwords):
                progress(f"registered {line}")
        else:
            raise DeployError(f"{step.id}: unknown step kind {step.kind}", "this is a bug in the service definition")

    def _database(self, step: DesiredStep) -> None:
        """The database and its user, made over the network at the address mariadb exports (any host can run it)."""
        p = step.payload
        ensure_database(str(p["host"]), int(p["port"]), str(self.h.passwords.get(p["admin_password"], "")),
                        p["database"], p["user"], str(self.h.passwords.get(p["password"], "")), self.secrets)
