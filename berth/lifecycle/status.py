"""`berth status`: what runs, how healthy it is, and whether it drifted from what a deploy would make."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from berth.config.loader import Config
from berth.config.passwords import mask, secret_values
from berth.engine.base import ContainerInfo, Engine
from berth.errors import EngineError
from berth.lifecycle.deploy import snapshot
from berth.lifecycle.render import container_name, enabled_services
from berth.plan.hostplan import HostPlan
from berth.plan.model import Action
from berth.state.actual import ActualContainer


@dataclass(frozen=True)
class Row:
    service: str
    container: str
    name: str
    state: str
    health: str
    image: str
    image_id: str
    uptime: str
    drift: str  # the action a deploy would take, "" when none
    # from the engine's inspect (the all-in-one's own engine): what happened to the process since its creation
    restarts: int = 0  # times the engine's restart policy started it again (reset by a start through the engine)
    last_exit: int | None = None  # exit status of a container that is down (None while it runs)
    stopped_at: str = ""  # when its process last ended ("" if it never has)
    started_at: str = ""  # when its process last started

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def status_rows(config: Config, engine: Engine, services: list[str] | None = None) -> list[Row]:
    snap = snapshot(config, engine, services)
    inspected = {c.id: found for c in snap.actual.containers if (found := engine.container(c.id)) is not None}
    return rows_of(snap, inspected)


def rows_of(snap: HostPlan, inspected: Mapping[str, ContainerInfo] | None = None) -> list[Row]:
    """One row per container of a host's plan: what runs there, and what a deploy would do to it; with the
    engine's inspect of each (`inspected`, by id), its restarts and how it last ended."""
    rows = []
    for change in snap.plan.changes:
        have = next((c for c in snap.actual.containers if c.id == change.container_id), None)
        want = snap.desired.container(change.key)
        drift = "" if change.action is Action.NOOP else f"{change.action.value}: {'; '.join(change.reasons)}"
        row = Row(change.service, change.key, change.name, have.state if have else "missing",
                  _health(have), want.image if want else "-", _short(have.image_id if have else ""),
                  _uptime(have), drift)
        info = (inspected or {}).get(have.id) if have else None
        rows.append(_with_runs(row, info) if info else row)
    return rows


def _with_runs(row: Row, info: ContainerInfo) -> Row:
    down = info.state not in ("running", "restarting")
    return dataclasses.replace(row, restarts=info.restart_count, last_exit=info.exit_code if down else None,
                               stopped_at=info.finished_at, started_at=info.started_at)


def incidents(rows: list[Row]) -> list[str]:
    """One line per container that is down or that the engine had to restart: which, how it ended, when, and
    what brings it back. Pure: unit-tested."""
    out = []
    for r in rows:
        if r.state == "missing":
            out.append(f"{r.name}: missing; `berth deploy` creates it")
        elif r.state not in ("running", "restarting"):
            ended = f"exit {r.last_exit}" + (f", {_kill_word(r.last_exit)}" if _kill_word(r.last_exit) else "")
            when = f" at {_clock(r.stopped_at)}" if r.stopped_at else ""
            out.append(f"{r.name}: {r.state} ({ended}{when}); `berth deploy` starts it")
        elif r.restarts:
            out.append(f"{r.name}: restarted by the engine {r.restarts} time(s) after its process ended "
                       f"(last at {_clock(r.stopped_at) or '?'}); running again since {_clock(r.started_at) or '?'}")
    return out


def _kill_word(code: int | None) -> str:
    """Exit statuses above 128 are a signal's: 137 is SIGKILL (the OOM killer, `docker kill`, a lost host)."""
    names = {137: "killed (SIGKILL)", 143: "terminated (SIGTERM)", 139: "segmentation fault"}
    return names.get(code or 0, "")


def _clock(stamp: str) -> str:
    """The engine's ISO time stamp as a short UTC time ("2026-12-02 12:21:19 UTC")."""
    if not stamp:
        return ""
    day, _, rest = stamp.partition("T")
    return f"{day} {rest[:8]} UTC" if rest else stamp


def _health(have: ActualContainer | None) -> str:
    if have is None:
        return "-"
    return have.health or "no check"


def _uptime(have: ActualContainer | None) -> str:
    """The engine's own wording ("Up 3 minutes"), without the health suffix shown in its own column."""
    if have is None:
        return "-"
    return have.status_text.split(" (")[0]


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12] or "-"


@dataclass(frozen=True)
class Note:
    """What a service's status probe (service.yml `status:`) said, e.g. a storage cluster's health."""

    service: str
    container: str
    ok: bool
    lines: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"service": self.service, "container": self.container, "ok": self.ok, "lines": list(self.lines)}


MAX_NOTE_LINES = 8


def status_notes(config: Config, engine: Engine, rows: list[Row]) -> list[Note]:
    """Each enabled service's probes, run in its containers that run on this host (per `rows`), output masked."""
    running = {(r.service, r.container) for r in rows if r.state == "running"}
    secrets = secret_values(config.passwords)
    notes = []
    for service in enabled_services(config):
        for probe in service.status:
            if (service.name, probe.container) not in running:
                continue
            name = container_name(config.globals.deployment_name, probe.container)
            argv = ["timeout", str(int(probe.timeout)), *probe.command]
            try:
                result = engine.exec(name, argv)
                ok, text = result.code == 0, result.output
            except EngineError as exc:
                ok, text = False, exc.message
            lines = [mask(line, secrets) for line in text.splitlines() if line.strip()][:MAX_NOTE_LINES]
            notes.append(Note(service.name, probe.container, ok, tuple(lines)))
    return notes
