"""Database safety for upgrades and rollbacks: dumps, restores, schema fingerprints and row counts.

Everything runs by exec in the deployment's MariaDB container as its root user (socket authentication), so no
password crosses the command line and no client is needed on the host. Dumps are gzip files, mode 0600.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import time
from collections.abc import Callable, Collection
from pathlib import Path

from berth.engine.base import ContainerInfo, Engine, doing
from berth.errors import DeployError
from berth.lifecycle.render import DB_CONTAINER, container_name
from berth.private import private_file
from berth.run import actions
from berth.state.hashing import sha256
from berth.state.history import Backup

Progress = Callable[[str], None]
_NAME = re.compile(r"^[A-Za-z0-9_]+$")
VERSION_TABLES = ("alembic_version", "migrate_version")


def database_container(engine: Engine, deployment: str) -> ContainerInfo:
    name = container_name(deployment, DB_CONTAINER)
    db = actions.get_container(engine, name)
    if db is None or not db.running:
        raise DeployError(f"the database container {name} is not running",
                          "start it first (`berth deploy mariadb`)")
    return db


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise DeployError(f"unsafe database name {name!r}", "database names are letters, digits and _")
    return name


def query(engine: Engine, db: ContainerInfo, sql: str, what: str) -> list[list[str]]:
    """Rows of a query, tab separated by the client (-N -B: no headers, batch)."""
    out = actions.exec_checked(engine, db, ["/bin/sh", "-c", 'exec mariadb -uroot -N -B -e "$BERTH_SQL"'],
                               {"BERTH_SQL": sql}, what, ())
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def fingerprint(engine: Engine, db: ContainerInfo, database: str) -> str:
    """sha256 over every column and index of the database plus its migration version rows.

    Comparing it before and after an upgrade's steps says exactly whether the schema changed, whatever tool
    (alembic, sqlalchemy-migrate, none) the project uses.
    """
    name = _checked(database)
    columns = query(engine, db, "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
                        f"WHERE TABLE_SCHEMA='{name}' ORDER BY 1, 2", f"reading the schema of {name}")
    indexes = query(engine, db, "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME, SEQ_IN_INDEX FROM information_schema.STATISTICS "
                        f"WHERE TABLE_SCHEMA='{name}' ORDER BY 1, 2, 4", f"reading the indexes of {name}")
    tables = {row[0] for row in columns}
    versions = [query(engine, db, f"SELECT * FROM `{name}`.`{t}`", f"reading {t}") for t in VERSION_TABLES if t in tables]
    return sha256(repr((columns, indexes, versions)))


def row_counts(engine: Engine, db: ContainerInfo, database: str) -> dict[str, int]:
    """Exact rows per table (one UNION query), to report what a restore takes away."""
    name = _checked(database)
    tables = [r[0] for r in query(engine, db, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                                      f"TABLE_SCHEMA='{name}' AND TABLE_TYPE='BASE TABLE' ORDER BY 1",
                                  f"listing tables of {name}")]
    if not tables:
        return {}
    sql = " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM `{name}`.`{t}`" for t in tables)
    return {row[0]: int(row[1]) for row in query(engine, db, sql, f"counting rows of {name}")}


def dump(engine: Engine, db: ContainerInfo, database: str, dest: Path) -> Backup:
    """mariadb-dump (consistent snapshot, routines, triggers) streamed into a gzip file, mode 0600."""
    name = _checked(database)
    argv = ["mariadb-dump", "-uroot", "--single-transaction", "--routines", "--triggers", "--events", name]
    with private_file(dest, binary=True) as raw, gzip.GzipFile(fileobj=raw, mode="wb") as out, \
            doing(f"dumping database {name}"):
        result = engine.exec_streamed(db.name, argv, out.write)
        if result.code != 0:  # the half-written dump is removed, an older one at `dest` kept
            raise DeployError(f"backing up database {name} failed (exit {result.code})", "nothing was changed",
                              details=result.output.splitlines()[-10:])
    return Backup(database=name, path=str(dest), taken_at=time.time(), size=dest.stat().st_size)


def restore(engine: Engine, db: ContainerInfo, backup: Backup, secrets: Collection[str] = ()) -> None:
    """Replace the database with the dump: drop, create, load (grants live in `mysql` and survive)."""
    name = _checked(backup.database)
    data = Path(backup.path).read_bytes()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("berth-restore.sql.gz")
        info.size, info.mode = len(data), 0o600
        tar.addfile(info, io.BytesIO(data))
    with doing(f"copying the backup of {name} into {db.name}"):
        engine.put_archive(db.name, "/tmp", archive.getvalue())
    script = (f'mariadb -uroot -e "DROP DATABASE IF EXISTS \\`{name}\\`; CREATE DATABASE \\`{name}\\`" && '
              f"gunzip -c /tmp/berth-restore.sql.gz | mariadb -uroot {name}; rc=$?; "
              "rm -f /tmp/berth-restore.sql.gz; exit $rc")
    actions.exec_checked(engine, db, ["/bin/sh", "-c", script], {}, f"restoring database {name}", secrets)


def backup_dir(deployment_dir: Path, label: str) -> Path:
    return deployment_dir / "backups" / label
