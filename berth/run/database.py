"""Databases and their users, made over the network as the database's administrator.

A deployment-wide step runs on one host of the service's group, which need not be the database host: it reaches
MariaDB at the address the mariadb service exports, with the root credentials the host plan carries, instead of
exec-ing into a container that only exists on the database host. Every statement is idempotent, so the step can
run any number of times (a re-run after a failure, a password change).
"""

from __future__ import annotations

from collections.abc import Collection

import pymysql

from berth.config.passwords import mask
from berth.errors import DeployError
from berth.retry import retried

CONNECT_TIMEOUT = 10  # seconds: the database is healthy before a dependent service's steps run
# Behind a VIP the database answers a few seconds after it is healthy: Keepalived takes the address and HAProxy's
# checks mark the server up. Connections refused or unroutable are tried again for this long.
CONNECT_PATIENCE = 60.0


def ensure_database(address: str, port: int, root_password: str, database: str, user: str, password: str,
                    secrets: Collection[str] = ()) -> None:
    """CREATE DATABASE/USER IF NOT EXISTS, set the password, grant: the same end state however often it runs."""
    statements = [
        (f"CREATE DATABASE IF NOT EXISTS `{_name(database)}`", ()),
        ("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password)),
        ("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password)),
        (f"GRANT ALL PRIVILEGES ON `{_name(database)}`.* TO %s@'%%'", (user,)),
        ("FLUSH PRIVILEGES", ()),
    ]
    connection = _connect(address, port, root_password, secrets)
    try:
        with connection.cursor() as cursor:
            for sql, args in statements:
                cursor.execute(sql, args or None)
    except pymysql.MySQLError as exc:
        raise DeployError(f"creating database {database} failed: {mask(str(exc), secrets)}",
                          "see the database's log (`berth logs mariadb`)") from None
    finally:
        connection.close()


def _connect(address: str, port: int, root_password: str, secrets: Collection[str],
             patience: float = CONNECT_PATIENCE) -> pymysql.connections.Connection:
    """A root connection; "cannot connect" (2003) and "lost connection" (2013, a proxy with no server up yet)
    are tried again until `patience` runs out, any other error (a wrong password) fails at once."""
    def transient(exc: Exception) -> bool:
        return isinstance(exc, pymysql.MySQLError) and bool(exc.args) and exc.args[0] in (2003, 2013)

    try:
        return retried(lambda: pymysql.connect(host=address, port=port, user="root", password=root_password,
                                               connect_timeout=CONNECT_TIMEOUT, autocommit=True),
                       transient, patience)
    except pymysql.MySQLError as exc:
        raise DeployError(f"cannot reach the database at {address}:{port} as root: {mask(str(exc), secrets)}",
                          "check that mariadb is healthy (`berth status mariadb`) and that this host reaches "
                          "its address") from None


def _name(identifier: str) -> str:
    """Database names come from service definitions; refuse what could escape the backquotes."""
    if not identifier or "`" in identifier or "\\" in identifier:
        raise DeployError(f"invalid database name {identifier!r}", "fix `databases:` in the service definition")
    return identifier
