"""HAProxy's runtime API on a control host's loopback: drain a host's servers before its containers change, return
them after (docs/ha.md, rolling changes).

`drain` stops new requests to a server while HAProxy keeps checking it; requests already on it finish. The
deployment host decides which servers (`<frontend>/<host>`) and runs `berth loadbalancer` on every control host,
since each host's HAProxy balances on its own.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from berth.errors import DeployError

ADDRESS = "127.0.0.1"
TIMEOUT = 5.0


@dataclass(frozen=True)
class ServerStat:
    """One server of one frontend, as `show stat` reports it."""

    frontend: str
    server: str
    status: str  # UP, DOWN, DRAIN, MAINT, no check, ...
    sessions: int  # current sessions

    @property
    def id(self) -> str:
        return f"{self.frontend}/{self.server}"


def parse_stat(csv: str) -> list[ServerStat]:
    """The servers in `show stat` CSV output (frontend and backend summary rows left out)."""
    lines = csv.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise DeployError("HAProxy's `show stat` answered without its CSV header", "check haproxy_admin_port")
    header = lines[0][2:].split(",")
    at = {name: header.index(name) for name in ("pxname", "svname", "status", "scur")}
    out = []
    for line in lines[1:]:
        row = line.split(",")
        if len(row) < len(header) or row[at["svname"]] in ("FRONTEND", "BACKEND"):
            continue
        out.append(ServerStat(row[at["pxname"]], row[at["svname"]], row[at["status"]],
                              int(row[at["scur"]] or 0)))
    return out


def command(port: int, text: str, address: str = ADDRESS) -> str:
    """One runtime API command; HAProxy answers and closes the connection."""
    try:
        with socket.create_connection((address, port), timeout=TIMEOUT) as sock:
            sock.sendall(text.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        raise DeployError(f"HAProxy's runtime API at {address}:{port} does not answer: {exc}",
                          "check that haproxy runs on this host (`berth status haproxy`)") from None
    return b"".join(chunks).decode(errors="replace")


def servers(port: int) -> list[ServerStat]:
    return parse_stat(command(port, "show stat"))


def set_state(port: int, ids: Iterable[str], state: str) -> list[str]:
    """Set `ready`, `drain` or `maint` on each `frontend/server` this HAProxy has; returns those it changed
    (a host's HAProxy without that frontend has nothing to drain)."""
    known = {s.id for s in servers(port)}
    changed = []
    for ident in ids:
        if ident not in known:
            continue
        answer = command(port, f"set server {ident} state {state}").strip()
        if answer:
            raise DeployError(f"HAProxy refused `set server {ident} state {state}`: {answer}",
                              "check the server name with `berth loadbalancer show`")
        changed.append(ident)
    return changed


def wait_idle(port: int, ids: Sequence[str], patience: float) -> list[str]:
    """Until none of `ids` has a current session, or `patience` runs out; returns those still busy."""
    return _wait(port, ids, lambda s: s.sessions > 0, patience)


def wait_up(port: int, ids: Sequence[str], patience: float) -> list[str]:
    """Until each of `ids` passes its health checks (UP) again, or `patience` runs out; returns those still not
    up. A server returned from `drain` after its container changed is DOWN until `rise` checks pass: taking the
    next host out before then would leave its frontends fewer servers than planned."""
    return _wait(port, ids, lambda s: s.status not in ("UP", "no check"), patience)


def _wait(port: int, ids: Sequence[str], waiting: Callable[[ServerStat], bool], patience: float) -> list[str]:
    wanted = set(ids)
    deadline = time.monotonic() + patience
    while True:
        still = sorted(s.id for s in servers(port) if s.id in wanted and waiting(s))
        if not still or time.monotonic() >= deadline:
            return still
        time.sleep(0.5)
