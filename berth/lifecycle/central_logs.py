"""Searching the central log store that `enable_central_logging` fills (berth/services/central_logging).

Each monitoring host keeps `<log_dir>/central-logging/hosts/<host>/<service>.log`, one line per log line of any
container of that host: `<time read, RFC 3339> <file> <the line>`; logrotate leaves `<service>.log.1` and older
copies, compressed (`.2.gz`, ...). `berth logs --all` reads them here: every file in time order (each file is in
order already, so the files are merged, not sorted), filtered by time, host, service and a regular expression.
Pure reading; no engine, no network.
"""

from __future__ import annotations

import gzip
import heapq
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

STORE = Path("central-logging") / "hosts"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RELATIVE = re.compile(r"^(\d+)([smhd])$")


@dataclass(frozen=True)
class LogLine:
    time: datetime
    host: str
    service: str
    container: str  # the log file's name without `.log`: the container's key (or the service's own log name)
    text: str

    def render(self) -> str:
        return f"{self.time.isoformat(timespec='milliseconds')} {self.host} {self.container}: {self.text}"

    def data(self) -> dict[str, str]:
        return {"time": self.time.isoformat(), "host": self.host, "service": self.service,
                "container": self.container, "line": self.text}


def store_dir(log_dir: str | Path) -> Path:
    return Path(log_dir) / STORE


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`--since`: a duration back from now (`90s`, `10m`, `2h`, `1d`) or a time (`2026-12-02T10:00`, UTC unless
    it says otherwise)."""
    match = _RELATIVE.match(text.strip())
    if match:
        return (now or datetime.now(UTC)) - timedelta(seconds=int(match[1]) * _UNITS[match[2]])
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"`{text}` is not a duration or a time: give e.g. 30s, 10m, 2h, 1d, or 2026-12-02T10:00 "
                         "(UTC unless an offset is given)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def search(store: Path, since: datetime | None = None, pattern: re.Pattern[str] | None = None,
           hosts: Collection[str] = (), services: Collection[str] = ()) -> Iterator[LogLine]:
    """Every stored line (of `hosts` and `services` when given) at or after `since` that `pattern` finds, in time
    order across all files."""
    streams = [_lines(path, host, service) for host, service, path in _files(store, hosts, services)]
    for line in heapq.merge(*streams, key=lambda x: x.time):
        if (since is None or line.time >= since) and (pattern is None or pattern.search(line.text)):
            yield line


def _files(store: Path, hosts: Collection[str], services: Collection[str]) -> Iterator[tuple[str, str, Path]]:
    """(host, service, file) of every store file, each service's rotated copies oldest first."""
    if not store.is_dir():
        return
    for host_dir in sorted(p for p in store.iterdir() if p.is_dir()):
        if hosts and host_dir.name not in hosts:
            continue
        for current in sorted(host_dir.glob("*.log")):
            service = current.name.removesuffix(".log")
            if services and service not in services:
                continue
            for path in (*_rotated(current), current):
                yield host_dir.name, service, path


def _rotated(current: Path) -> list[Path]:
    """`x.log.1`, `x.log.2.gz`, ...: the highest number is the oldest."""
    copies = []
    for path in current.parent.glob(current.name + ".*"):
        number = path.name[len(current.name) + 1:].removesuffix(".gz")
        if number.isdigit():
            copies.append((int(number), path))
    return [path for _, path in sorted(copies, reverse=True)]


def _lines(path: Path, host: str, service: str) -> Iterator[LogLine]:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", errors="replace") as packed:
            yield from parse_lines(packed, host, service)
        return
    with path.open(errors="replace") as stream:
        yield from parse_lines(stream, host, service)


def parse_lines(lines: Iterable[str], host: str, service: str) -> Iterator[LogLine]:
    """Store lines as LogLines; a line without a readable time (a partial write) is skipped."""
    for raw in lines:
        stamp, _, rest = raw.rstrip("\n").partition(" ")
        source, _, text = rest.partition(" ")
        try:
            when = datetime.fromisoformat(stamp)
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        yield LogLine(when, host, service, source.removesuffix(".log"), text)
