"""`berth backup` / `berth restore`: the cloud's data, consistently, and back onto a fresh deployment.

A backup is a folder `<state_dir>/<deployment>/backups/cloud-<UTC time>/` (mode 0700) holding:
- `db/<database>.sql.gz`: every database of the enabled services, each a consistent snapshot (mariadb-dump
  --single-transaction, by exec in the MariaDB container: no password on any command line);
- `config.tar.gz`: the configuration directory (globals.yml, passwords.yml, certificates, overrides, the client
  files post-deploy wrote, the inventory), so Keystone's token and credential keys, which berth writes from
  passwords.yml, come back with it;
- `manifest.json`: when, which deployment and release, each file with its size and sha256.
Every file is mode 0600. `retention` keeps the newest N backups and removes the older ones.

A restore needs the same configuration (the manifest's passwords.yml checksum is compared: other passwords
would leave the restored users' grants and Keystone's keys out of step) and a running MariaDB: it replaces each
database with its dump, then restarts Memcached so no service serves what it cached from before.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from berth.config.loader import Config
from berth.config.passwords import secret_values
from berth.engine.base import Engine
from berth.errors import ConfigError, DeployError
from berth.lifecycle import backup as dbs
from berth.lifecycle.render import container_name
from berth.private import write_private
from berth.run import actions
from berth.state.history import Backup
from berth.state.model import load_service

Progress = Callable[[str], None]
PREFIX = "cloud-"
MANIFEST = "manifest.json"
CONFIG_ARCHIVE = "config.tar.gz"
# what of the configuration directory a backup keeps (the rest there is state of its own, or large)
CONFIG_ENTRIES = ("globals.yml", "passwords.yml", "certificates", "config", "admin-openrc.sh", "clouds.yaml",
                  "multinode")


@dataclass(frozen=True)
class CloudBackup:
    """One backup folder, as `berth backup --list` shows it."""

    path: Path
    taken_at: float
    size: int
    databases: list[str]

    @property
    def name(self) -> str:
        return self.path.name


def backups_root(config: Config) -> Path:
    return config.deployment_dir / "backups"


def databases(config: Config) -> list[str]:
    """The databases of every enabled service, in service order."""
    from berth.config.loader import enabled_names

    return [db.name for name in enabled_names(config.globals) for db in load_service(name).databases]


def take(config: Config, engine: Engine, progress: Progress, inventory: Path | None = None) -> CloudBackup:
    """Dump every database and archive the configuration into a new backup folder; a failure removes the
    unfinished folder (nothing half-written stays beside the good ones)."""
    db = dbs.database_container(engine, config.globals.deployment_name)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    folder = backups_root(config) / f"{PREFIX}{stamp}"
    if folder.exists():
        raise DeployError(f"a backup named {folder.name} exists already", "wait a second and run it again")
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True, mode=0o700)
    try:
        files: list[dict[str, object]] = []
        present = {row[0] for row in dbs.query(engine, db, "SHOW DATABASES", "listing the databases")}
        for name in (n for n in databases(config) if n in present):
            progress(f"dumping {name}")
            taken = dbs.dump(engine, db, name, partial / "db" / f"{name}.sql.gz")
            files.append(_entry(partial, Path(taken.path), database=name))
        progress("archiving the configuration")
        files.append(_entry(partial, _archive_config(config.config_dir, inventory, partial / CONFIG_ARCHIVE)))
        manifest = {"deployment": config.globals.deployment_name, "release": config.globals.openstack_release,
                    "taken_at": time.time(), "files": files,
                    "passwords_sha256": _passwords_digest(config.config_dir)}
        write_private(partial / MANIFEST, json.dumps(manifest, indent=2).encode())
        os.replace(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return read(folder)


def _entry(root: Path, path: Path, database: str | None = None) -> dict[str, object]:
    entry: dict[str, object] = {"file": str(path.relative_to(root)), "size": path.stat().st_size,
                                "sha256": _digest(path)}
    if database:
        entry["database"] = database
    return entry


def _archive_config(config_dir: Path, inventory: Path | None, dest: Path) -> Path:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name in CONFIG_ENTRIES:
            if (config_dir / name).exists():
                tar.add(config_dir / name, arcname=name)
        if inventory is not None and inventory.is_file() and inventory.parent != config_dir:
            tar.add(inventory, arcname=f"inventory/{inventory.name}")
    return dest


def _digest(path: Path) -> str:
    with path.open("rb") as data:
        return hashlib.file_digest(data, "sha256").hexdigest()


def _passwords_digest(config_dir: Path) -> str:
    path = config_dir / "passwords.yml"
    return _digest(path) if path.is_file() else ""


def read(folder: Path) -> CloudBackup:
    """A backup folder's manifest; a folder without one (or with a broken one) is named as such."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        files = manifest["files"]
        return CloudBackup(folder, float(manifest["taken_at"]), sum(int(f["size"]) for f in files),
                           [str(f["database"]) for f in files if f.get("database")])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{folder}: not a berth backup (its {MANIFEST} cannot be read: {exc})",
                          "name a folder `berth backup --list` shows") from None


def listing(config: Config) -> list[CloudBackup]:
    """Every complete backup of the deployment, oldest first (a folder whose manifest cannot be read is not one:
    `find` names it when asked for)."""
    root = backups_root(config)
    if not root.is_dir():
        return []
    items = []
    for folder in sorted(p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / MANIFEST).is_file()):
        try:
            items.append(read(folder))
        except ConfigError:
            continue
    return sorted(items, key=lambda b: b.taken_at)


def prune(config: Config, keep: int) -> list[CloudBackup]:
    """Remove all but the newest `keep` backups; returns the removed ones."""
    old = listing(config)[:-keep] if keep > 0 else []
    for item in old:
        shutil.rmtree(item.path)
    return old


def find(config: Config, name: str) -> CloudBackup:
    """A backup by folder name (as listed) or path."""
    path = Path(name)
    folder = path if path.is_absolute() else backups_root(config) / name
    if not folder.is_dir():
        names = ", ".join(b.name for b in listing(config)) or "none yet"
        raise ConfigError(f"no backup {name!r} for deployment {config.globals.deployment_name}",
                          f"name one of: {names}")
    return read(folder)


def restore(config: Config, engine: Engine, item: CloudBackup, progress: Progress) -> list[str]:
    """Replace every database of the backup with its dump (files checked against the manifest first), then
    restart Memcached; returns the databases restored."""
    manifest = json.loads((item.path / MANIFEST).read_text())
    if manifest.get("deployment") != config.globals.deployment_name:
        raise ConfigError(f"{item.name} is a backup of deployment {manifest.get('deployment')!r}, not "
                          f"{config.globals.deployment_name!r}", "restore it with that deployment's configuration")
    if manifest.get("passwords_sha256") != _passwords_digest(config.config_dir):
        raise ConfigError(f"{item.name} was taken with another passwords.yml than {config.config_dir}'s",
                          f"restore the configuration first: tar -xzf {item.path / CONFIG_ARCHIVE} -C "
                          f"{config.config_dir} passwords.yml (then `berth deploy`), and run the restore again")
    for entry in manifest["files"]:
        path = item.path / entry["file"]
        if not path.is_file() or _digest(path) != entry["sha256"]:
            raise ConfigError(f"{path}: missing or changed since the backup (sha256 differs)",
                              "take another backup, or restore from an intact one")
    db = dbs.database_container(engine, config.globals.deployment_name)
    restored = []
    for entry in (e for e in manifest["files"] if e.get("database")):
        name = str(entry["database"])
        progress(f"restoring {name}")
        dbs.restore(engine, db, Backup(database=name, path=str(item.path / entry["file"]), taken_at=0.0),
                    secrets=secret_values(config.passwords))
        restored.append(name)
    cache = actions.get_container(engine, container_name(config.globals.deployment_name, "memcached"))
    if cache is not None and cache.running:
        progress("restarting memcached (what the services cached before the restore)")
        actions.stop(engine, cache, 10)
        actions.start(engine, cache)
    return restored
