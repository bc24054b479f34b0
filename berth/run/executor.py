"""The one executor: applies any Plan (deploy, reconfigure, upgrade, rollback, stop, destroy, pull, cleanup).

Images to pull or build come first (nothing changes before every new image is present). Then one task per service
over the dependency graph: in parallel along dependencies for deploys, reversed for stop/destroy, one at a time
for upgrade/rollback (a failure stops the run before the next service changes). Per service: images, volumes and
config directories when it runs containers, the `before` steps in plan order, the container actions (every
replace through the one reversible swap), the `after` steps (contract, the history record), then leftovers.
Host objects are removed last. Every step is idempotent and stamped only after success, so running the command
again after a failure finishes the job.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.engine.base import ContainerInfo, Engine
from berth.errors import BerthError, DeployError
from berth.plan.model import HISTORY_KINDS, Action, ContainerChange, Operation, Order, Plan, StepChange
from berth.run import actions, history_steps, objects, swap
from berth.run.database import ensure_database
from berth.run.events import Status
from berth.run.scheduler import EventSink, RunResult, Task, reverse_graph, run_graph
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
from berth.state.history import PENDING, Backup, Entry, History
from berth.state.store import StateStore

Progress = Callable[[str], None]
Builder = Callable[[list[str], Progress], None]
LostRows = dict[str, dict[str, tuple[int, int]]]  # database -> table -> (rows before, rows after a restore)


def _quiet(_line: str) -> None:
    return None


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
    build: Builder | None = None  # builds images on the deployment host (`berth upgrade --build`)


class Executor:
    def __init__(self, host: HostContext, plan: Plan, max_workers: int = 4) -> None:
        self.h = host
        self.plan = plan
        self.max_workers = max_workers
        self.store = StateStore(host.deployment_dir)
        self.history = History(host.deployment_dir)
        self.timings = Timings()
        self.results: dict[str, list[str]] = {}  # service -> what was done (for --json and the summary)
        self.objects_done: list[str] = []  # host objects pulled, built or removed
        self.entries: dict[str, Entry] = {}  # service -> the history entry this run opened or wrote
        self.safety: dict[str, tuple[Backup, ...]] = {}  # service -> dumps taken before a restore
        self.lost: LostRows = {}
        self.wanted: dict[str, list[DesiredContainer]] = {}  # service -> its containers with image ids resolved
        self.result: RunResult | None = None

    @property
    def secrets(self) -> frozenset[str]:
        return self.h.desired.secrets

    # --- the run -------------------------------------------------------------------------------------------------

    def service_names(self) -> list[str]:
        """The plan's services, then any other service its items name (leftovers of a disabled service)."""
        names = list(self.plan.services)
        for service in [c.service for c in self.plan.changes] + [s.service for s in self.plan.steps]:
            if service not in names:
                names.append(service)
        return names

    def tasks(self) -> list[Task]:
        names = self.service_names()
        units = {u.name: u for u in self.h.desired.services}
        order = self.plan.operation.order
        tasks = []
        for i, name in enumerate(names):
            if order is Order.SERIAL:
                deps = frozenset(names[i - 1:i])
            else:
                deps = frozenset(d for d in (units[name].depends_on if name in units else ()) if d in names)
            tasks.append(Task(name, self._runner(name), deps, self._label(name in units)))
        return reverse_graph(tasks) if order is Order.REVERSE else tasks

    def _label(self, known: bool) -> str:
        op = self.plan.operation
        if op in (Operation.DEPLOY, Operation.RECONFIGURE):
            return "deploy" if known else "remove"
        return op.value

    def run(self, on_event: EventSink | None = None, progress: Progress = _quiet) -> RunResult:
        """Images first (raises before anything changes), the services, then host objects to remove."""
        self.objects_done += objects.fetch(self.h.engine, self.plan, self.h.build, progress)
        self.result = run_graph(self.tasks(), max_workers=self.max_workers, on_event=on_event)
        self.objects_done += objects.remove_all(self.h.engine, self.plan, progress)
        return self.result

    # --- one service ---------------------------------------------------------------------------------------------

    def _runner(self, name: str) -> Callable[[Progress], Status]:
        return lambda progress: self.converge_service(name, progress)

    def _unit(self, name: str) -> ServiceUnit | None:
        return next((u for u in self.h.desired.services if u.name == name), None)

    def converge_service(self, service: ServiceUnit | str, progress: Progress) -> Status:
        name = service if isinstance(service, str) else service.name
        changes = self.plan.for_service(name)
        done: list[str] = self.results.setdefault(name, [])
        if not self.plan.service_changes(name):
            self._wait_starting(changes, self.h.desired.containers_of(name), progress)
            return Status.CACHED
        try:
            ids = self._prepare(name, changes, progress)
            self._steps(name, "before", ids, progress, done)
            by_key = {w.key: w for w in self.wanted.get(name, [])}
            for change in changes:
                self._apply(change, by_key.get(change.key), progress, done)
            self._steps(name, "after", ids, progress, done)
            self._remove_leftovers(name, progress)
        except BerthError as exc:
            self._note_failure(name, exc)
            raise
        return Status.SUCCEEDED

    def _prepare(self, name: str, changes: list[ContainerChange], progress: Progress) -> dict[str, str]:
        """Images, volumes and config directories of a service that runs containers; image ids learnt."""
        unit = self._unit(name)
        if unit is None or self.plan.operation in (Operation.STOP, Operation.DESTROY, Operation.CLEANUP):
            return {}
        wanted = self.h.desired.containers_of(name)
        ids = {w.image: w.image_id or actions.ensure_image(self.h.engine, w.image, progress) for w in wanted}
        self.wanted[name] = wanted = [container_with_image_id(w, ids) for w in wanted]
        for volume in unit.volumes:
            actions.ensure_volume(self.h.engine, self.h.desired.deployment, volume)
        swapped = {c.key for c in changes if c.action in (Action.SWAP, Action.FINISH)}
        for want in wanted:
            if want.key not in swapped:  # a swap writes its files just before (the old one still serves)
                actions.write_config_dir(self._config_dir(want.key), want.files)
        return ids

    def _note_failure(self, name: str, exc: BerthError) -> None:
        """An upgrade that failed keeps its entry pending (the backups stay the restore point) and says why."""
        entry = self.entries.get(name)
        if entry is not None and entry.state == PENDING:
            self.history.update(dataclasses.replace(entry, note=f"failed: {exc.message}"))

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

    def _apply(self, change: ContainerChange, want: DesiredContainer | None, progress: Progress,
               done: list[str]) -> None:
        if change.action is Action.STOP:
            self._stop(change, progress, done)
        elif change.action in (Action.SWAP, Action.FINISH) and want is not None:
            self._swap(change, want, progress, done)
        elif change.action not in (Action.REMOVE, Action.NOOP) and want is not None:
            self._converge(change, want, progress, done)

    def _converge(self, change: ContainerChange, want: DesiredContainer, progress: Progress, done: list[str]) -> None:
        engine, deployment = self.h.engine, self.h.desired.deployment
        old = actions.get_container(engine, change.container_id) if change.container_id else None
        action = change.action if old is not None or change.action is Action.CREATE else Action.CREATE
        progress(f"{want.name}: {action.value}")
        if action is Action.CREATE:
            container = swap.swap(engine, deployment, None, want, self.secrets, progress, wait=lambda new: None,
                                  image_id=change.image_id)
        elif action is Action.RECREATE:
            assert old is not None
            previous = dict(self._previous_files(change.key))
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

    def _swap(self, change: ContainerChange, want: DesiredContainer, progress: Progress, done: list[str]) -> None:
        """Upgrade and rollback: the container's own swap strategy; an interrupted swap is finished first."""
        engine, deployment = self.h.engine, self.h.desired.deployment
        have = self.h.actual.main(want.key) if self.h.actual else None
        aside = next((c for c in self.h.actual.containers if c.key == want.key and c.aside), None) \
            if self.h.actual else None
        old = actions.get_container(engine, have.id) if have else None
        wait = lambda new: self._health(new, want, progress)
        if change.action is Action.FINISH and old is not None:
            kept = actions.get_container(engine, aside.id) if aside else None
            swap.finish(engine, deployment, kept, old, want, self.secrets, progress, wait=wait)
            done.append(f"{want.name}: finished the interrupted swap")
            return
        if aside is not None and old is None:  # interrupted between "set aside" and "new created"
            engine.rename(aside.id, want.name)
            old = actions.get_container(engine, aside.id)
        source = have or aside  # the old container: its files are what it was started with
        previous = dict(source.files) if source else {}
        config_dir = self._config_dir(want.key)
        actions.write_config_dir(config_dir, want.files)
        start = time.monotonic()
        swap.swap(engine, deployment, old, want, self.secrets, progress, wait=wait,
                  on_failure=lambda: actions.write_config_dir(config_dir, previous), image_id=change.image_id)
        took = time.monotonic() - start
        if self.plan.operation is Operation.ROLLBACK:
            short = (want.image_id or "").removeprefix("sha256:")[:12] or "none"
            done.append(f"{want.name}: back on {want.image} ({short}) in {took:.1f}s")
        else:
            done.append(f"{want.name}: swapped to {want.image} in {took:.1f}s")

    def _stop(self, change: ContainerChange, progress: Progress, done: list[str]) -> None:
        container = actions.get_container(self.h.engine, change.container_id or change.name)
        if container is not None:
            progress(f"stopping {change.name}")
            actions.stop(self.h.engine, container, 10)
            done.append(f"{change.name}: stopped")

    def _previous_files(self, key: str) -> Mapping[str, str]:
        """The files the old container was started with (observed before this run rewrote them)."""
        have = self.h.actual.main(key) if self.h.actual else None
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
                progress(f"{change.name}: removing ({change.reasons[0] if change.reasons else 'planned'})")
                actions.remove(self.h.engine, change.container_id)
                self.results.setdefault(service, []).append(f"{change.name}: removed")

    # --- steps ---------------------------------------------------------------------------------------------------

    def _steps(self, service: str, phase: str, ids: Mapping[str, str], progress: Progress, done: list[str]) -> None:
        """The service's steps of one phase, in plan order (backup before expand, record last)."""
        for change in self.plan.steps_for(service):
            if not change.run or change.phase != phase:
                continue
            if change.kind in HISTORY_KINDS:
                history_steps.run(self, change, progress, done)
            else:
                self.run_steps([step_with_image_id(self._desired_step(change), ids)], progress, done)

    def _desired_step(self, change: StepChange) -> DesiredStep:
        desired = self.h.desired
        extra = [s for s in desired.upgrade_steps if s.service == change.service]
        candidates = [*extra, *desired.steps_of(change.service)] if self.plan.operation is Operation.UPGRADE \
            else [*desired.steps_of(change.service), *extra]
        found = next((s for s in candidates if s.name == change.name), None)
        if found is None:
            raise DeployError(f"{change.id}: the plan names a step the desired state does not define",
                              "make the plan again (`berth deploy --plan`)")
        return found

    def run_steps(self, steps: list[DesiredStep], progress: Progress, done: list[str]) -> None:
        """Run steps in order, stamping each after success."""
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
