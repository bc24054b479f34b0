"""`berth rollback SERVICE [--to ENTRY]`: plan against a recorded history entry and swap back to it.

Without a schema change since that entry it is only a container swap (recreated from the recorded image ids,
definitions and config files). With one, it refuses unless the operator asks to restore the database backup; the
current database is dumped first (nothing is destroyed irrecoverably) and the rows that disappear are reported.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from berth.config.loader import Config
from berth.config.passwords import secret_values
from berth.engine.base import Engine
from berth.errors import DeployError, NotFoundError
from berth.lifecycle import backup
from berth.lifecycle.records import desired_of
from berth.run import actions
from berth.run.swap import swap
from berth.state.actual import ActualState
from berth.state.history import (
    DONE,
    Backup,
    Entry,
    History,
    current,
    restore_source,
    rollback_target,
    schema_changes_since,
)
from berth.state.observe import observe
from berth.state.store import StateStore

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ContainerStep:
    key: str
    name: str
    action: str  # noop | recreate | create | remove
    reason: str
    image_id: str = ""


@dataclass(frozen=True)
class RollbackPlan:
    service: str
    target: Entry
    current: Entry | None
    containers: tuple[ContainerStep, ...]
    restore: tuple[Backup, ...] = ()  # backups to restore (schema changed since the target)
    schema_changed: bool = False
    missing_images: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        return bool(self.restore) or any(c.action != "noop" for c in self.containers)

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "target": self.target.summary(),
                "current": self.current.summary() if self.current else None,
                "containers": [dataclasses.asdict(c) for c in self.containers],
                "schema_changed": self.schema_changed, "restore": [dataclasses.asdict(b) for b in self.restore],
                "missing_images": list(self.missing_images)}


def decide(entries: list[Entry], actual: ActualState, images: set[str], service: str,
           to: int | None) -> RollbackPlan:
    """Pure: per recorded container noop/recreate/create, extra containers removed, restore when needed."""
    target = rollback_target(entries, service, to)
    steps = []
    for rec in target.containers:
        have = actual.main(rec.key)
        if have is None:
            steps.append(ContainerStep(rec.key, rec.name, "create", "container does not exist", rec.image_id))
        elif (have.image_id, have.spec_hash, have.config_hash) == (rec.image_id, rec.spec_hash, rec.config_hash) \
                and have.running:
            steps.append(ContainerStep(rec.key, rec.name, "noop", "already as recorded", rec.image_id))
        else:
            why = (f"image {_short(have.image_id)} -> {_short(rec.image_id)}" if have.image_id != rec.image_id
                   else "definition or config differs from the entry")
            steps.append(ContainerStep(rec.key, rec.name, "recreate", why, rec.image_id))
    keys = {r.key for r in target.containers}
    for have in actual.containers:
        if have.service == service and have.role == "service" and not have.aside and have.key not in keys:
            steps.append(ContainerStep(have.key, have.name, "remove", f"not part of entry {target.id}"))
    changes = schema_changes_since(entries, service, target)
    missing = tuple(sorted({r.image_id for r in target.containers if r.image_id not in images}))
    return RollbackPlan(service, target, current(entries, service), tuple(steps),
                        restore_source(entries, service, target), bool(changes), missing)


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12] or "none"


def plan_lines(rp: RollbackPlan, restore_database: bool) -> list[str]:
    t = rp.target
    lines = [(f"rollback {rp.service} to history entry {t.id} ({t.kind}, "
             f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(t.time))}, tags {', '.join(t.tags)})")]
    lines += [f"  {c.action:<8} {c.name}: {c.reason}" for c in rp.containers]
    if rp.schema_changed:
        when = min((b.taken_at for b in rp.restore), default=0)
        since = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(when)) if when else "?"
        lines.append(f"  the database schema changed since entry {t.id}: restoring "
                     + ", ".join(b.path for b in rp.restore))
        lines.append(f"  data written since {since} ({_age(when)} ago) will be lost; the current database is "
                     "dumped first")
        if not restore_database:
            lines.append("  refused without --restore-database")
    else:
        lines.append("  database schema unchanged since that entry: containers only, no data touched")
    return lines


def _age(when: float) -> str:
    seconds = max(0, int(time.time() - when))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


def check(rp: RollbackPlan, restore_database: bool) -> None:
    if rp.missing_images:
        raise NotFoundError(f"image(s) of entry {rp.target.id} no longer exist: {', '.join(rp.missing_images)}",
                            "build or pull that tag again (`berth build`, `berth pull`), then retry")
    if rp.schema_changed and not rp.restore:
        raise DeployError(f"the schema of {rp.service} changed since entry {rp.target.id} but no backup was "
                          "recorded", "restore a database dump by hand; nothing was changed")
    if rp.schema_changed and not restore_database:
        raise DeployError(f"the database schema of {rp.service} changed since entry {rp.target.id}: the old "
                          "version cannot run on it",
                          "run again with --restore-database to restore the backup taken before the upgrade "
                          "(data written since then is lost; the current database is dumped first)")


@dataclass
class RollbackResult:
    entry: Entry
    elapsed: float
    lost: dict[str, dict[str, tuple[int, int]]]  # database -> table -> (rows now, rows after restore)
    done: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.entry.summary(), "elapsed": round(self.elapsed, 2),
                "lost_rows": {db: {t: {"before": a, "after": b} for t, (a, b) in tables.items()}
                              for db, tables in self.lost.items()}, "done": self.done}


def run_rollback(config: Config, engine: Engine, rp: RollbackPlan,
                 progress: Progress) -> RollbackResult:
    start = time.monotonic()
    deployment = config.globals.deployment_name
    actual = observe(engine, deployment, config.deployment_dir)
    secrets = frozenset(secret_values(config.passwords))
    done: list[str] = []
    lost: dict[str, dict[str, tuple[int, int]]] = {}
    safety: tuple[Backup, ...] = ()
    history = History(config.deployment_dir)
    if rp.schema_changed:
        safety, lost = _restore(config, engine, rp, actual, progress, done)
    for step in rp.containers:
        _apply(config, engine, rp, step, actual, secrets, progress, done)
    store = StateStore(config.deployment_dir)
    for step_id, stamp in rp.target.stamps.items():
        store.set_stamp(step_id, stamp)
    tags = rp.target.tags
    store.set_pin(rp.service, None if tags == [config.globals.image_tag] or not tags else tags[0])
    schema = {}
    if rp.schema_changed:
        db = backup.database_container(engine, deployment)
        schema = {b.database: backup.fingerprint(engine, db, b.database) for b in rp.restore}
    entry = history.add(Entry(id=0, time=time.time(), service=rp.service, kind="rollback",
                              containers=rp.target.containers, backups=safety, schema_changed=rp.schema_changed,
                              schema=schema, stamps=rp.target.stamps, state=DONE, note=f"to entry {rp.target.id}"))
    return RollbackResult(entry, time.monotonic() - start, lost, done)


def _restore(config: Config, engine: Engine, rp: RollbackPlan, actual: ActualState,
             progress: Progress, done: list[str]) -> tuple[tuple[Backup, ...], dict[str, dict[str, tuple[int, int]]]]:
    """Stop the service, dump the current databases, restore the backups; rows that disappear per table."""
    deployment = config.globals.deployment_name
    for have in actual.containers:
        if have.service == rp.service and have.role == "service" and have.running:
            container = actions.get_container(engine, have.id)
            if container is not None:
                progress(f"{have.name}: stopping (the database is restored)")
                actions.stop(engine, container, 10)
    db = backup.database_container(engine, deployment)
    folder = backup.backup_dir(config.deployment_dir, f"before-rollback-{int(time.time())}")
    safety = []
    lost: dict[str, dict[str, tuple[int, int]]] = {}
    for item in rp.restore:
        safety.append(backup.dump(engine, db, item.database, folder / f"{item.database}.sql.gz"))
        before = backup.row_counts(engine, db, item.database)
        progress(f"restoring {item.database} from {item.path}")
        backup.restore(engine, db, item)
        after = backup.row_counts(engine, db, item.database)
        lost[item.database] = {t: (n, after.get(t, 0)) for t, n in before.items() if n > after.get(t, 0)}
        done.append(f"restored {item.database} from {item.path} (current data kept in {safety[-1].path})")
    if flush_memcached(config):
        done.append("flushed memcached (entries cached from the replaced data)")
    return tuple(safety), lost


def flush_memcached(config: Config) -> bool:
    """Services cache database rows in memcached (keystone: projects, users, roles): stale after a restore."""
    import socket

    from berth.config.globals import is_enabled

    if not is_enabled(config.globals, "memcached"):
        return False
    from berth.lifecycle.wiring import exports

    flushed = False
    for server in str(exports(config)["memcached_servers"]).split(","):
        address, _, port = server.rpartition(":")
        try:
            with socket.create_connection((address, int(port)), timeout=5) as conn:
                conn.sendall(b"flush_all\r\n")
                flushed = conn.recv(64).startswith(b"OK") or flushed
        except OSError:
            continue
    return flushed


def _pinned_image(engine: Engine, rec: Any) -> str | None:
    """None when the recorded tag still names the recorded image (the container shows its tag), else the id."""
    found = engine.image(rec.image)
    return None if found is not None and found.id == rec.image_id else str(rec.image_id)


def _apply(config: Config, engine: Engine, rp: RollbackPlan, step: ContainerStep,
           actual: ActualState, secrets: frozenset[str], progress: Progress, done: list[str]) -> None:
    have = actual.main(step.key)
    old = actions.get_container(engine, have.id) if have else None
    if step.action == "remove":
        if old is not None:
            actions.remove(engine, old.id)
            done.append(f"{step.name}: removed")
        return
    if step.action == "noop" and not rp.schema_changed:
        return
    rec = next(r for r in rp.target.containers if r.key == step.key)
    want = desired_of(rec, rp.service)
    config_dir = config.deployment_dir / "config" / rec.key
    previous = dict(have.files) if have else {}
    actions.write_config_dir(config_dir, want.files)
    start = time.monotonic()
    swap(engine, config.globals.deployment_name, old, want, secrets, progress,
         wait=lambda new: actions.wait_healthy(engine, new, want, secrets, progress),
         on_failure=lambda: actions.write_config_dir(config_dir, previous), image_id=_pinned_image(engine, rec))
    done.append(f"{step.name}: back on {rec.image} ({_short(rec.image_id)}) in {time.monotonic() - start:.1f}s")
