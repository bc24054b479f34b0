"""Deployment history: what each deploy/upgrade/rollback left running, so rollback is "plan against an entry".

An entry records, per container, everything needed to recreate it exactly (image id, definition, config files)
plus the database backups taken before the change and whether the schema changed. The file holds config files
with secrets, so it is written mode 0600 next to the generated config directories.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from berth.errors import NotFoundError
from berth.frozen import frozen
from berth.private import private_file

_LOCK = threading.Lock()
DONE, PENDING = "done", "pending"



@dataclass(frozen=True)
class ContainerRecord:
    """One container as it ran after the change (enough to create it again without rendering)."""

    key: str
    name: str
    image: str
    image_id: str
    config_hash: str
    spec_hash: str
    spec: Mapping[str, Any] = field(default_factory=frozen)
    files: Mapping[str, str] = field(default_factory=frozen)
    health: tuple[str, ...] = ()
    health_timeout: float = 120.0
    stop_timeout: int = 10
    swap: str = "stop-first"
    ready_log: str | None = None

    @property
    def tag(self) -> str:
        return self.image.rsplit(":", 1)[-1] if ":" in self.image.rsplit("/", 1)[-1] else ""


@dataclass(frozen=True)
class Backup:
    database: str
    path: str
    taken_at: float
    size: int = 0


@dataclass(frozen=True)
class Entry:
    id: int
    time: float
    service: str
    kind: str  # deploy | upgrade | rollback
    containers: tuple[ContainerRecord, ...] = ()
    backups: tuple[Backup, ...] = ()  # taken just before this change: the data of the previous entry
    schema_changed: bool = False
    schema: Mapping[str, str] = field(default_factory=frozen)  # database -> fingerprint after the change
    stamps: Mapping[str, str] = field(default_factory=frozen)  # step id -> stamp after the change
    state: str = DONE  # pending: an upgrade that was interrupted (its backups are still the ones to restore)
    note: str = ""

    @property
    def tags(self) -> list[str]:
        return sorted({c.tag for c in self.containers})

    def summary(self) -> dict[str, Any]:
        """The row `berth history` shows (no config files: they hold secrets)."""
        return {"id": self.id, "time": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time)),
                "service": self.service, "kind": self.kind, "state": self.state, "tags": self.tags,
                "images": {c.key: c.image_id.removeprefix("sha256:")[:12] for c in self.containers},
                "schema_changed": self.schema_changed,
                "backups": [b.path for b in self.backups], "note": self.note}

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    """JSON-ready data (asdict cannot copy the read-only mappings the values hold)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def entry_from_dict(data: Mapping[str, Any]) -> Entry:
    containers = tuple(ContainerRecord(**{**c, "health": tuple(c.get("health", ()))})
                       for c in data.get("containers", ()))
    backups = tuple(Backup(**b) for b in data.get("backups", ()))
    return Entry(**{**data, "containers": containers, "backups": backups})


# --- pure decisions ------------------------------------------------------------------------------------------------


def of_service(entries: Sequence[Entry], service: str, state: str | None = DONE) -> list[Entry]:
    return [e for e in entries if e.service == service and (state is None or e.state == state)]


def current(entries: Sequence[Entry], service: str) -> Entry | None:
    done = of_service(entries, service)
    return done[-1] if done else None


def pending(entries: Sequence[Entry], service: str) -> Entry | None:
    """An interrupted upgrade of `service` (newer than its last completed entry)."""
    items = of_service(entries, service, None)
    return items[-1] if items and items[-1].state == PENDING else None


def rollback_target(entries: Sequence[Entry], service: str, to: int | None) -> Entry:
    """The entry to return to: `to`, or the completed entry before the current one."""
    done = of_service(entries, service)
    if to is not None:
        match = [e for e in done if e.id == to]
        if not match:
            known = ", ".join(str(e.id) for e in done) or "none"
            raise NotFoundError(f"no history entry {to} for service {service}", f"entries of {service}: {known} "
                                "(see `berth history`)")
        return match[0]
    if len(done) < 2:
        raise NotFoundError(f"service {service} has no earlier history entry to roll back to",
                            "`berth history` lists the entries; a deploy or upgrade records one")
    return done[-2]


RELEASE_NOTE = "release {source} -> {target}"  # the note of an upgrade entry that changed the OpenStack release


def release_target(entries: Sequence[Entry], service: str, release: str) -> Entry | None:
    """The entry `berth rollback --release RELEASE` returns `service` to: the last one before the newest upgrade
    that left RELEASE (None: no release upgrade left it, nothing to do)."""
    done = of_service(entries, service)
    prefix = RELEASE_NOTE.format(source=release, target="")
    left = [e for e in done if e.kind == "upgrade" and e.note.startswith(prefix)]
    if not left:
        return None
    before = [e for e in done if e.id < left[-1].id]
    return before[-1] if before else None


def schema_changes_since(entries: Sequence[Entry], service: str, target: Entry) -> list[Entry]:
    """Completed changes after `target` that changed the schema: their backups hold the target's data."""
    return [e for e in of_service(entries, service) if e.id > target.id and e.schema_changed]


def restore_source(entries: Sequence[Entry], service: str, target: Entry) -> tuple[Backup, ...]:
    """The backups taken right before the first schema change after `target` (the target's data)."""
    changes = schema_changes_since(entries, service, target)
    return changes[0].backups if changes else ()


def schema_changed(before: Mapping[str, str], after: Mapping[str, str]) -> bool:
    return any(before.get(db) != fp for db, fp in after.items())


# --- the file --------------------------------------------------------------------------------------------------------


class History:
    def __init__(self, deployment_dir: Path) -> None:
        self.path = deployment_dir / "history.json"

    def entries(self) -> list[Entry]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        return [entry_from_dict(item) for item in data.get("entries", [])]

    def add(self, entry: Entry) -> Entry:
        """Append `entry` with the next id (ids only grow, so `--to` names stay valid)."""
        with _LOCK:
            entries = self.entries()
            entry = replace(entry, id=max((e.id for e in entries), default=0) + 1)
            self._write([*entries, entry])
        return entry

    def update(self, entry: Entry) -> None:
        with _LOCK:
            self._write([entry if e.id == entry.id else e for e in self.entries()])

    def _write(self, entries: list[Entry]) -> None:
        with private_file(self.path) as handle:
            json.dump({"entries": [e.to_dict() for e in entries]}, handle, indent=1, sort_keys=True)
