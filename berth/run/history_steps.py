"""The steps upgrade and rollback add around a service's change, run by the one executor in plan order.

`backup`: opens the pending history entry (a baseline first when the service has none) and dumps its databases
    before anything changes; an interrupted upgrade reuses its pending entry and backups as the restore point.
`restore`: stops the service, dumps the current databases (nothing is destroyed irrecoverably), restores the
    backups and counts the rows that disappear.
`flush`: memcached forgets rows cached from the replaced data.
`record`: the entry that says what now runs (the target of the next rollback), stamps and the service's pin.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.errors import DeployError
from berth.plan.model import StepChange
from berth.run import actions
from berth.state.desired import step_stamp
from berth.state.history import (
    DONE,
    PENDING,
    Backup,
    ContainerRecord,
    Entry,
    current,
    pending,
    schema_changed,
)

if TYPE_CHECKING:
    from berth.run.executor import Executor

Progress = Callable[[str], None]


def run(ex: Executor, change: StepChange, progress: Progress, done: list[str]) -> None:
    handler = {"backup": backup, "restore": restore, "flush": flush, "record": record}.get(change.kind)
    if handler is None:
        raise DeployError(f"{change.id}: unknown step kind {change.kind}", "this is a bug in the plan")
    handler(ex, change, progress, done)


@dataclass(frozen=True)
class _InContainer:
    """The deployment's MariaDB container runs here: exec its own client (socket authentication)."""

    engine: Any
    db: Any

    def fingerprint(self, database: str) -> str:
        from berth.lifecycle import backup as dumps

        return dumps.fingerprint(self.engine, self.db, database)

    def dump(self, database: str, dest: Path) -> Backup:
        from berth.lifecycle import backup as dumps

        return dumps.dump(self.engine, self.db, database, dest)

    def row_counts(self, database: str) -> dict[str, int]:
        from berth.lifecycle import backup as dumps

        return dumps.row_counts(self.engine, self.db, database)

    def restore(self, backup: Backup) -> None:
        from berth.lifecycle import backup as dumps

        dumps.restore(self.engine, self.db, backup)


@dataclass(frozen=True)
class _OverNetwork:
    """MariaDB runs on another host: reach it at the address it exports (berth.lifecycle.netdb)."""

    server: Any

    def fingerprint(self, database: str) -> str:
        from berth.lifecycle import netdb

        return netdb.fingerprint(self.server, database)

    def dump(self, database: str, dest: Path) -> Backup:
        from berth.lifecycle import netdb

        return netdb.dump(self.server, database, dest)

    def row_counts(self, database: str) -> dict[str, int]:
        from berth.lifecycle import netdb

        return netdb.row_counts(self.server, database)

    def restore(self, backup: Backup) -> None:
        from berth.lifecycle import netdb

        netdb.restore(self.server, backup)


def _db(ex: Executor, change: StepChange) -> Any:
    """The database the step's dumps and fingerprints go through: the MariaDB container when it runs on this host,
    else over the network at the address the step's payload names (`server`, from mariadb's exports)."""
    from berth.lifecycle import backup as dumps

    try:
        return _InContainer(ex.h.engine, dumps.database_container(ex.h.engine, ex.h.desired.deployment))
    except DeployError:
        where = change.payload.get("server")
        if not where:
            raise
    from berth.lifecycle.netdb import Server

    return _OverNetwork(Server.of(where, ex.h.passwords, ex.secrets))


# --- upgrade -------------------------------------------------------------------------------------------------------


def backup(ex: Executor, change: StepChange, progress: Progress, done: list[str]) -> None:
    service, databases = change.service, list(change.payload.get("databases", ()))
    entries = ex.history.entries()
    found = pending(entries, service)
    if found is not None:
        done.append(f"finishing the interrupted upgrade of entry {found.id}")
        note = str(change.payload.get("note", "")) or found.note  # not the failure an earlier attempt noted
        if note != found.note:
            found = dataclasses.replace(found, note=note)
            ex.history.update(found)
        ex.entries[service] = found
        return
    if current(entries, service) is None:
        base = _baseline(ex, service)
        if base is not None:
            ex.history.add(base)
    entry = ex.history.add(Entry(id=0, time=time.time(), service=service, kind="upgrade", state=PENDING,
                                 note=str(change.payload.get("note", ""))))
    ex.entries[service] = entry
    if databases:
        from berth.lifecycle.backup import backup_dir

        db = _db(ex, change)
        schema = {d: db.fingerprint(d) for d in databases}
        folder = backup_dir(ex.h.deployment_dir, str(entry.id))
        taken = tuple(db.dump(d, folder / f"{d}.sql.gz") for d in databases)
        done += [f"backed up {b.database} to {b.path} ({b.size} bytes)" for b in taken]
        entry = dataclasses.replace(entry, backups=taken, schema=schema)
        ex.history.update(entry)
        ex.entries[service] = entry


def _baseline(ex: Executor, service: str) -> Entry | None:
    """What runs now as the first rollback target: from the configuration when it matches, else the running
    containers as they are (a service deployed with other config still has a target)."""
    from berth.lifecycle.records import baseline

    if ex.h.actual is None:
        return None
    base = baseline(ex.h.desired, ex.h.actual, service, ex.store, note="before upgrade")
    if base is not None:
        return base
    records = tuple(ContainerRecord(key=c.key, name=c.name, image=str(c.spec.get("image", "")), image_id=c.image_id,
                                    config_hash=c.config_hash, spec_hash=c.spec_hash, spec=dict(c.spec),
                                    files=dict(c.files))
                    for c in ex.h.actual.containers
                    if c.service == service and c.role == "service" and not c.aside and c.spec)
    if not records:
        return None
    return Entry(id=0, time=time.time(), service=service, kind="deploy", containers=records,
                 note="running containers before upgrade")


def record(ex: Executor, change: StepChange, progress: Progress, done: list[str]) -> None:
    if change.payload.get("kind") == "rollback":
        _record_rollback(ex, change, done)
    else:
        _record_upgrade(ex, change, done)
    ex.store.set_pin(change.service, change.payload.get("pin"))
    for service, tag in dict(change.payload.get("keep", {})).items():  # left on their tag by a release upgrade
        ex.store.set_pin(service, tag)
        done.append(f"{service} kept on image tag {tag}")


def _record_upgrade(ex: Executor, change: StepChange, done: list[str]) -> None:
    from berth.lifecycle.records import record_of, service_stamps

    service, desired = change.service, ex.h.desired
    entry = ex.entries.get(service) or pending(ex.history.entries(), service)
    if entry is None:
        raise DeployError(f"{service}: no pending history entry to complete", "run `berth upgrade` again")
    volumes = actions.volume_ids(ex.h.engine, desired.deployment)
    for step in desired.steps_of(service):  # replaced steps count as done: deploy has nothing to redo
        if step.name in desired.replaced.get(service, ()):
            ex.store.set_stamp(step.id, step_stamp(step, volumes))
    after: dict[str, str] = {}
    databases = list(change.payload.get("databases", ()))
    if databases:
        db = _db(ex, change)
        after = {d: db.fingerprint(d) for d in databases}
    records = tuple(record_of(w) for w in ex.wanted.get(service, desired.containers_of(service)))
    changed = schema_changed(entry.schema, after) if entry.schema else False
    finished = dataclasses.replace(entry, state=DONE, time=time.time(), containers=records, schema=after,
                                   schema_changed=changed, stamps=service_stamps(desired, service, ex.store))
    ex.history.update(finished)
    ex.entries[service] = finished
    done.append(f"history entry {finished.id}: schema {'changed' if changed else 'unchanged'}")


# --- rollback ------------------------------------------------------------------------------------------------------


def restore(ex: Executor, change: StepChange, progress: Progress, done: list[str]) -> None:
    """Stop the service, dump the current databases, restore the backups; rows that disappear per table."""
    for have in (ex.h.actual.containers if ex.h.actual else ()):
        if have.service == change.service and have.role == "service" and have.running:
            container = actions.get_container(ex.h.engine, have.id)
            if container is not None:
                progress(f"{have.name}: stopping (the database is restored)")
                actions.stop(ex.h.engine, container, 10)
    from berth.lifecycle.backup import backup_dir

    db = _db(ex, change)
    folder = backup_dir(ex.h.deployment_dir, f"before-rollback-{int(time.time())}")
    safety = []
    for item in (Backup(**b) for b in change.payload.get("backups", ())):
        safety.append(db.dump(item.database, folder / f"{item.database}.sql.gz"))
        before = db.row_counts(item.database)
        progress(f"restoring {item.database} from {item.path}")
        db.restore(item)
        after = db.row_counts(item.database)
        ex.lost[item.database] = {t: (n, after.get(t, 0)) for t, n in before.items() if n > after.get(t, 0)}
        done.append(f"restored {item.database} from {item.path} (current data kept in {safety[-1].path})")
    ex.safety[change.service] = tuple(safety)


def flush(ex: Executor, change: StepChange, progress: Progress, done: list[str]) -> None:
    """Services cache database rows in memcached (keystone: projects, users, roles): stale after a restore."""
    flushed = False
    for server in change.payload.get("servers", ()):
        address, _, port = str(server).rpartition(":")
        try:
            with socket.create_connection((address, int(port)), timeout=5) as conn:
                conn.sendall(b"flush_all\r\n")
                flushed = conn.recv(64).startswith(b"OK") or flushed
        except OSError:
            continue
    if flushed:
        done.append("flushed memcached (entries cached from the replaced data)")


def _record_rollback(ex: Executor, change: StepChange, done: list[str]) -> None:
    service, payload = change.service, change.payload
    target = next((e for e in ex.history.entries() if e.id == payload.get("target")), None)
    if target is None:
        raise DeployError(f"history entry {payload.get('target')} of {service} disappeared", "see `berth history`")
    for step_id, stamp in target.stamps.items():
        ex.store.set_stamp(step_id, stamp)
    databases = list(payload.get("databases", ()))
    schema: dict[str, str] = {}
    if databases:
        db = _db(ex, change)
        schema = {d: db.fingerprint(d) for d in databases}
    entry = ex.history.add(Entry(id=0, time=time.time(), service=service, kind="rollback",
                                 containers=target.containers, backups=ex.safety.get(service, ()),
                                 schema_changed=bool(databases), schema=schema, stamps=target.stamps, state=DONE,
                                 note=f"to entry {target.id}"))
    ex.entries[service] = entry
