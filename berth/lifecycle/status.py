"""`berth status`: what runs, how healthy it is, and whether it drifted from what a deploy would make."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from berth.config.loader import Config
from berth.config.passwords import mask, secret_values
from berth.engine.base import Engine
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

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def status_rows(config: Config, engine: Engine, services: list[str] | None = None) -> list[Row]:
    return rows_of(snapshot(config, engine, services))


def rows_of(snap: HostPlan) -> list[Row]:
    """One row per container of a host's plan: what runs there, and what a deploy would do to it."""
    rows = []
    for change in snap.plan.changes:
        have = next((c for c in snap.actual.containers if c.id == change.container_id), None)
        want = snap.desired.container(change.key)
        drift = "" if change.action is Action.NOOP else f"{change.action.value}: {'; '.join(change.reasons)}"
        rows.append(Row(change.service, change.key, change.name, have.state if have else "missing",
                        _health(have), want.image if want else "-", _short(have.image_id if have else ""),
                        _uptime(have), drift))
    return rows


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
