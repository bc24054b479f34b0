"""`berth upgrade`: per service, one at a time — images first, backup, upgrade steps, container swaps, history.

Nothing stops before every new image is present. Each service's databases are dumped before its steps run; the
steps run with the new image while the old containers still serve (expand/migrate), then the containers are
swapped one at a time (the old one kept aside until the new one is healthy, put back on failure), then the
`after` steps (contract). A pending history entry is written before anything changes, so an interrupted upgrade is
finished by running it again with the same backups as restore point.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth.config.loader import Config
from berth.engine.base import ContainerInfo, Engine
from berth.errors import DeployError
from berth.lifecycle import backup
from berth.lifecycle.deploy import Snapshot, host_context
from berth.lifecycle.hostplans import host_plan
from berth.lifecycle.records import baseline, record_of, service_stamps
from berth.plan.model import Action, ContainerChange
from berth.run import actions
from berth.run.executor import Executor
from berth.run.swap import finish, swap
from berth.state.actual import ActualState
from berth.state.desired import DesiredContainer, DesiredState, DesiredStep, step_stamp
from berth.state.history import DONE, PENDING, Entry, History, current, pending, schema_changed
from berth.state.model import load_service
from berth.state.observe import observe
from berth.state.store import StateStore

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImageNeed:
    ref: str
    image: str
    source: str  # present | pull | build


@dataclass(frozen=True)
class ServiceUpgrade:
    """What upgrading one service means: container changes, steps in order, databases to back up."""

    service: str
    changes: tuple[ContainerChange, ...]
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    databases: tuple[str, ...] = ()
    resume: bool = False  # an interrupted upgrade is finished (its backups stay the restore point)

    @property
    def needed(self) -> bool:
        return self.resume or any(c.action.changes for c in self.changes)


@dataclass(frozen=True)
class UpgradePlan:
    tag: str
    images: tuple[ImageNeed, ...]
    services: tuple[ServiceUpgrade, ...]

    @property
    def has_changes(self) -> bool:
        return any(s.needed for s in self.services)

    def to_dict(self) -> dict[str, Any]:
        from berth.state.history import _plain

        return {"tag": self.tag, "images": _plain(self.images),
                "services": [{**_plain(dataclasses.replace(s, changes=())),
                              "changes": [{"key": c.key, "name": c.name, "action": c.action.value,
                                           "reasons": list(c.reasons)} for c in s.changes]}
                             for s in self.services]}


def with_tag(config: Config, tag: str | None) -> Config:
    """The configuration with another image tag (globals.yml is not changed)."""
    if not tag:
        return config
    return dataclasses.replace(config, globals=config.globals.model_copy(update={"image_tag": tag}))


def upgrade_snapshot(config: Config, engine: Engine, services: Sequence[str]) -> Snapshot:
    """Desired state with the selected services on the config's tag (their pins ignored), the others pinned."""
    actual = observe(engine, config.globals.deployment_name, config.deployment_dir)
    pins = {k: v for k, v in StateStore(config.deployment_dir).read()["pins"].items() if k not in services}
    return host_plan(config, "localhost", actual, services, pins)


def step_order(desired: DesiredState, snap_steps: set[str], service: str) -> tuple[list[DesiredStep],
                                                                                   list[DesiredStep]]:
    """(before, after) steps of an upgrade: the deploy steps due, with `upgrade.steps` in place of those they
    replace (or appended when they replace none). Pure: unit-tested."""
    replaced = set(desired.replaced.get(service, ()))
    extra = [s for s in desired.upgrade_steps if s.service == service]
    extra_before = [s for s in extra if s.phase == "before"]
    before: list[DesiredStep] = []
    inserted = False
    for step in desired.steps_of(service):
        if step.phase != "before":
            continue
        if step.name in replaced:
            if not inserted:
                before += extra_before
                inserted = True
            continue
        if step.id in snap_steps:
            before.append(step)
    if not inserted:
        before += extra_before
    after = [s for s in extra if s.phase == "after"]
    after += [s for s in desired.steps_of(service) if s.phase == "after" and s.id in snap_steps
              and s.name not in replaced]
    return before, after


def images_needed(desired: DesiredState, services: Sequence[str], registry: str, build: bool) -> list[ImageNeed]:
    out: dict[str, ImageNeed] = {}
    for want in desired.containers:
        if want.service in services and want.image not in out:
            source = "present" if want.image_id else ("pull" if registry and not build else "build")
            out[want.image] = ImageNeed(want.image, str(want.spec.get("image", want.image)).rsplit("/", 1)[-1]
                                        .split(":")[0], source)
    return list(out.values())


def dependency_order(desired: DesiredState, services: Sequence[str]) -> list[str]:
    """Selected services, each after the selected services it depends on (mariadb before keystone)."""
    units = {u.name: u for u in desired.services if u.name in services}
    out: list[str] = []

    def visit(name: str) -> None:
        if name in out or name not in units:
            return
        for dep in units[name].depends_on:
            visit(dep)
        out.append(name)

    for name in sorted(units):
        visit(name)
    return out


def plan_upgrade(config: Config, snap: Snapshot, services: Sequence[str], build: bool) -> UpgradePlan:
    entries = History(config.deployment_dir).entries()
    due = {s.id for s in snap.plan.steps if s.run}
    units = dependency_order(snap.desired, services)
    out = []
    for name in units:
        before, after = step_order(snap.desired, due, name)
        changes = tuple(snap.plan.for_service(name))
        resume = pending(entries, name) is not None or any(
            c.key in {x.key for x in changes} and c.aside for c in snap.actual.containers)
        databases = tuple(d.name for d in load_service(name).databases)
        out.append(ServiceUpgrade(name, changes, tuple(s.name for s in before), tuple(s.name for s in after),
                                  databases, resume))
    images = images_needed(snap.desired, services, config.globals.docker_registry, build)
    return UpgradePlan(config.globals.image_tag, tuple(images), tuple(out))


def plan_lines(up: UpgradePlan) -> list[str]:
    lines = [f"upgrade to image tag {up.tag}:"]
    for need in up.images:
        if need.source != "present":
            lines.append(f"  image {need.ref}: will be {'pulled' if need.source == 'pull' else 'built'} first")
    for su in up.services:
        if not su.needed:
            lines.append(f"  {su.service}: already on {up.tag}, nothing to do")
            continue
        lines.append(f"  {su.service}:{' (finishing an interrupted upgrade)' if su.resume else ''}")
        if su.databases:
            lines.append(f"    back up databases {', '.join(su.databases)} (mariadb-dump, gzip)")
        if su.before:
            lines.append(f"    steps with the new image: {', '.join(su.before)}")
        for c in su.changes:
            if c.action is not Action.NOOP:
                lines.append(f"    {c.action.value:<8} {c.name}: {'; '.join(c.reasons)}")
        if su.after:
            lines.append(f"    after the swap: {', '.join(su.after)}")
    return lines


# --- images ----------------------------------------------------------------------------------------------------------


def prepare_images(config: Config, engine: Engine, up: UpgradePlan, progress: Progress) -> None:
    """Pull or build every missing image; raises before any container is touched."""
    pulls = [n for n in up.images if n.source == "pull"]
    for need in pulls:
        actions.ensure_image(engine, need.ref, progress)
    builds = sorted({n.image for n in up.images if n.source == "build"})
    if builds:
        build_images(config, engine, builds, progress)


def build_images(config: Config, engine: Engine, names: list[str], progress: Progress) -> None:
    from berth.errors import BuildError
    from berth.images.builder import BuildOptions, plan_build, run_build
    from berth.run.events import Status

    override = config.config_dir / "template-overrides.j2"
    plan = plan_build(engine, config.globals, names, override=override.read_text() if override.is_file() else "")
    progress(f"building {', '.join(names)} ({config.globals.image_tag})")
    result = run_build(engine, plan, BuildOptions(threads=2))
    if not result.ok:
        failed = [o.key for o in result.with_status(Status.FAILED)]
        raise BuildError(f"building {', '.join(failed)} failed; nothing was changed",
                         "see the logs in /var/log/berth/build")


# --- applying ----------------------------------------------------------------------------------------------------------


@dataclass
class UpgradeRun:
    config: Config
    engine: Engine
    snap: Snapshot
    progress: Progress
    history: History = field(init=False)
    store: StateStore = field(init=False)
    executor: Executor = field(init=False)
    configured_tag: str = ""  # globals.yml's image_tag: a service upgraded to another tag is pinned to it
    done: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.history = History(self.config.deployment_dir)
        self.store = StateStore(self.config.deployment_dir)
        self.executor = Executor(host_context(self.engine, self.snap), self.snap.plan)

    @property
    def secrets(self) -> frozenset[str]:
        return self.snap.desired.secrets

    def service(self, su: ServiceUpgrade) -> Entry | None:
        if not su.needed:
            return None
        log = self.done.setdefault(su.service, [])
        entry = self._start_entry(su, log)
        unit = next(u for u in self.snap.desired.services if u.name == su.service)
        for volume in unit.volumes:
            actions.ensure_volume(self.engine, self.snap.desired.deployment, volume)
        due = {s.id for s in self.snap.plan.steps if s.run}
        before, after = step_order(self.snap.desired, due, su.service)
        try:
            self.executor.run_steps(before, self.progress, log)
            self._swaps(su, log)
            self.executor.run_steps(after, self.progress, log)
        except DeployError as exc:
            self.history.update(dataclasses.replace(entry, note=f"failed: {exc.message}"))
            raise
        return self._finish(su, entry, log)

    def _start_entry(self, su: ServiceUpgrade, log: list[str]) -> Entry:
        """The pending entry with the backups (reused when an interrupted upgrade is finished)."""
        entries = self.history.entries()
        found = pending(entries, su.service)
        if found is not None:
            log.append(f"finishing the interrupted upgrade of entry {found.id}")
            return found
        if current(entries, su.service) is None:
            base = baseline(self.snap.desired, self.snap.actual, su.service, self.store, note="before upgrade")
            if base is None:
                base = self._baseline_from_running(su.service)
            if base is not None:
                self.history.add(base)
        entry = self.history.add(Entry(id=0, time=time.time(), service=su.service, kind="upgrade", state=PENDING,
                                       note=f"to {self.config.globals.image_tag}"))
        if su.databases:
            db = backup.database_container(self.engine, self.snap.desired.deployment)
            schema = {d: backup.fingerprint(self.engine, db, d) for d in su.databases}
            folder = backup.backup_dir(self.config.deployment_dir, str(entry.id))
            taken = tuple(backup.dump(self.engine, db, d, folder / f"{d}.sql.gz") for d in su.databases)
            log += [f"backed up {b.database} to {b.path} ({b.size} bytes)" for b in taken]
            entry = dataclasses.replace(entry, backups=taken, schema=schema)
            self.history.update(entry)
        return entry

    def _baseline_from_running(self, service: str) -> Entry | None:
        """A service deployed with other config still has a target: its running containers as they are."""
        from berth.state.history import ContainerRecord

        records = []
        for have in self.snap.actual.containers:
            if have.service == service and have.role == "service" and not have.aside and have.spec:
                records.append(ContainerRecord(key=have.key, name=have.name, image=str(have.spec.get("image", "")),
                                               image_id=have.image_id, config_hash=have.config_hash,
                                               spec_hash=have.spec_hash, spec=dict(have.spec),
                                               files=dict(have.files)))
        if not records:
            return None
        return Entry(id=0, time=time.time(), service=service, kind="deploy", containers=tuple(records),
                     note="running containers before upgrade")

    def _swaps(self, su: ServiceUpgrade, log: list[str]) -> None:
        wanted = {w.key: w for w in self.snap.desired.containers_of(su.service)}
        for change in su.changes:
            if change.key in wanted and change.action is not Action.REMOVE:
                self._swap_one(change, wanted[change.key], log)
        for change in su.changes:  # one-shot remains of an interrupted run
            if change.action is Action.REMOVE and change.container_id:
                actions.remove(self.engine, change.container_id)

    def _swap_one(self, change: ContainerChange, want: DesiredContainer, log: list[str]) -> None:
        actual: ActualState = self.snap.actual
        have = actual.main(want.key)
        aside = next((c for c in actual.containers if c.key == want.key and c.aside), None)
        engine = self.engine
        old = actions.get_container(engine, have.id) if have else None
        if aside is not None and old is None:  # interrupted between "set aside" and "new created"
            engine.rename(aside.id, want.name)
            old = actions.get_container(engine, aside.id)
            assert old is not None
        elif old is not None and change.action in (Action.NOOP, Action.START):
            if aside is not None or change.action is Action.START:
                self._finish_interrupted(want, old, aside.id if aside else None, log)
            return
        config_dir = self.config.deployment_dir / "config" / want.key
        previous = dict(have.files) if have else {}
        actions.write_config_dir(config_dir, want.files)
        start = time.monotonic()
        swap(engine, self.snap.desired.deployment, old, want, self.secrets, self.progress,
             wait=lambda new: actions.wait_healthy(engine, new, want, self.secrets, self.progress),
             on_failure=lambda: actions.write_config_dir(config_dir, previous))
        log.append(f"{want.name}: swapped to {want.image} in {time.monotonic() - start:.1f}s")

    def _finish_interrupted(self, want: DesiredContainer, new: ContainerInfo, aside_id: str | None,
                            log: list[str]) -> None:
        """The new container exists: make sure it serves, then drop the old one kept aside (or put it back)."""
        engine = self.engine
        aside = actions.get_container(engine, aside_id) if aside_id else None
        finish(engine, self.snap.desired.deployment, aside, new, want, self.secrets, self.progress,
               wait=lambda c: actions.wait_healthy(engine, c, want, self.secrets, self.progress))
        log.append(f"{want.name}: finished the interrupted swap")

    def _finish(self, su: ServiceUpgrade, entry: Entry, log: list[str]) -> Entry:
        desired = self.snap.desired
        volumes = actions.volume_ids(self.engine, desired.deployment)
        for step in desired.steps_of(su.service):  # replaced steps count as done: deploy has nothing to redo
            if step.name in desired.replaced.get(su.service, ()):
                self.store.set_stamp(step.id, step_stamp(step, volumes))
        after: dict[str, str] = {}
        if su.databases:
            db = backup.database_container(self.engine, desired.deployment)
            after = {d: backup.fingerprint(self.engine, db, d) for d in su.databases}
        records = tuple(record_of(w) for w in desired.containers_of(su.service))
        changed = schema_changed(entry.schema, after) if entry.schema else False
        done = dataclasses.replace(entry, state=DONE, time=time.time(), containers=records, schema=after,
                                   schema_changed=changed, stamps=service_stamps(desired, su.service, self.store))
        self.history.update(done)
        tag = self.config.globals.image_tag
        self.store.set_pin(su.service, None if tag == self.configured_tag else tag)
        log.append(f"history entry {done.id}: schema {'changed' if changed else 'unchanged'}")
        return done


def run_upgrade(config: Config, configured_tag: str, engine: Engine, snap: Snapshot,
                up: UpgradePlan, progress: Progress) -> tuple[list[Entry], dict[str, list[str]]]:
    """Upgrade the planned services one at a time, in dependency order; stops at the first failure."""
    run = UpgradeRun(config, engine, snap, progress, configured_tag)
    entries = []
    for su in up.services:
        entry = run.service(su)
        if entry is not None:
            entries.append(entry)
    return entries, run.done
