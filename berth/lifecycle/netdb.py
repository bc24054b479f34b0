"""Database safety over the network: dumps, restores, schema fingerprints and row counts through PyMySQL.

An upgrade's backup runs on the host of the service's deployment-wide steps, which need not run MariaDB (a
service's databases are made over the network there too: `berth.run.database`). When the deployment's MariaDB
container is not on this host, the backup reaches MariaDB at the address the mariadb service exports, as root with
the password the host plan carries, instead of exec-ing `mariadb-dump` in a container that is elsewhere.

The dump is a consistent snapshot (one transaction) written one statement per line (values escaped by the client
library, so no value spans lines), gzip, mode 0600; `restore` reads back only dumps of this format.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

from berth.config.passwords import mask
from berth.errors import DeployError
from berth.lifecycle.backup import VERSION_TABLES, _checked
from berth.private import private_file
from berth.state.hashing import sha256
from berth.state.history import Backup

HEADER = "-- berth network dump 1"
ROWS_PER_INSERT = 200
CONNECT_TIMEOUT = 10


@dataclass(frozen=True)
class Server:
    """Where MariaDB is (its exports) and the root password (from the host plan's credentials)."""

    address: str
    port: int
    password: str
    secrets: Collection[str] = ()

    @classmethod
    def of(cls, where: Mapping[str, Any], credentials: Mapping[str, Any], secrets: Collection[str]) -> Server:
        return cls(str(where["host"]), int(where["port"]), str(credentials.get(where["admin_password"], "")),
                   secrets)


@contextmanager
def connected(server: Server) -> Iterator[Any]:
    try:
        connection = pymysql.connect(host=server.address, port=server.port, user="root", password=server.password,
                                     connect_timeout=CONNECT_TIMEOUT, autocommit=True)
    except pymysql.MySQLError as exc:
        raise DeployError(f"cannot reach the database at {server.address}:{server.port} as root: "
                          f"{mask(str(exc), server.secrets)}", "check that mariadb is healthy and that this host "
                          "reaches its address; nothing was changed") from None
    try:
        yield connection
    except pymysql.MySQLError as exc:
        raise DeployError(f"database statement failed at {server.address}:{server.port}: "
                          f"{mask(str(exc), server.secrets)}", "see the database's log") from None
    finally:
        connection.close()


def query(connection: Any, sql: str) -> list[list[str]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [["" if v is None else str(v) for v in row] for row in cursor.fetchall()]


def fingerprint(server: Server, database: str) -> str:
    """The same fingerprint as the in-container one (berth.lifecycle.backup.fingerprint): columns, indexes and the
    migration version rows, so an upgrade's before/after compare whichever way each was taken."""
    name = _checked(database)
    with connected(server) as conn:
        columns = query(conn, "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM "
                        f"information_schema.COLUMNS WHERE TABLE_SCHEMA='{name}' ORDER BY 1, 2")
        indexes = query(conn, "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME, SEQ_IN_INDEX FROM "
                        f"information_schema.STATISTICS WHERE TABLE_SCHEMA='{name}' ORDER BY 1, 2, 4")
        tables = {row[0] for row in columns}
        versions = [query(conn, f"SELECT * FROM `{name}`.`{t}`") for t in VERSION_TABLES if t in tables]
    return sha256(repr((columns, indexes, versions)))


def row_counts(server: Server, database: str) -> dict[str, int]:
    name = _checked(database)
    with connected(server) as conn:
        tables = _tables(conn, name)
        return {t: int(query(conn, f"SELECT COUNT(*) FROM `{name}`.`{t}`")[0][0]) for t in tables}


def _tables(conn: Any, name: str) -> list[str]:
    return [r[0] for r in query(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                                      f"TABLE_SCHEMA='{name}' AND TABLE_TYPE='BASE TABLE' ORDER BY 1")]


def dump(server: Server, database: str, dest: Path) -> Backup:
    """Every table's definition and rows in one consistent snapshot, gzip, mode 0600 (atomically)."""
    name = _checked(database)
    with private_file(dest, binary=True) as raw, gzip.GzipFile(fileobj=raw, mode="wb") as out, \
            connected(server) as conn:
        for line in _statements(conn, name):
            out.write(line.encode() + b"\n")
    return Backup(database=name, path=str(dest), taken_at=time.time(), size=dest.stat().st_size)


def _statements(conn: Any, name: str) -> Iterator[str]:
    yield HEADER
    yield "SET FOREIGN_KEY_CHECKS=0;"
    with conn.cursor() as cursor:
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        for table in _tables(conn, name):
            cursor.execute(f"SHOW CREATE TABLE `{name}`.`{table}`")
            create = str(cursor.fetchone()[1])
            yield f"DROP TABLE IF EXISTS `{table}`;"
            yield " ".join(create.split("\n")) + ";"
            cursor.execute(f"SELECT * FROM `{name}`.`{table}`")
            while rows := cursor.fetchmany(ROWS_PER_INSERT):
                values = ",".join("(" + ",".join(conn.escape(v) for v in row) + ")" for row in rows)
                yield f"INSERT INTO `{table}` VALUES {values};"
        cursor.execute("COMMIT")
    yield "SET FOREIGN_KEY_CHECKS=1;"


def restore(server: Server, backup: Backup) -> None:
    """Replace the database with a dump this module wrote: drop, create, one statement per line."""
    name = _checked(backup.database)
    with gzip.open(backup.path, "rt") as handle:
        lines = handle.read().splitlines()
    if not lines or lines[0] != HEADER:
        raise DeployError(f"{backup.path} was written by mariadb-dump in the database container",
                          "restore it on the host that runs mariadb (`berth rollback` there); nothing was changed")
    with connected(server) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}`")
        cursor.execute(f"USE `{name}`")
        for line in lines[1:]:
            if line.strip():
                cursor.execute(line)
