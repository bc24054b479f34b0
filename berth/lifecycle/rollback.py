"""`berth rollback SERVICE [--to ENTRY]`: plan against a recorded history entry and swap back to it.

Without a schema change since that entry it is only a container swap (recreated from the recorded image ids,
definitions and config files). With one, it refuses unless the operator asks to restore the database backup; the
current database is dumped first (nothing is destroyed irrecoverably) and the rows that disappear are reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from berth.config.loader import Config
from berth.config.passwords import secret_values
from berth.engine.base import Engine
from berth.errors import DeployError, NotFoundError
from berth.lifecycle.records import desired_of
from berth.plan.model import Action, Blocker, ContainerChange, Operation, Plan, StepChange
from berth.run.events import progress_events
from berth.run.executor import Executor, HostContext, LostRows
from berth.state.actual import ActualState
from berth.state.desired import DesiredState, ServiceUnit
from berth.state.history import Entry, restore_source, rollback_target, schema_changes_since

Progress = Callable[[str], None]


def decide(entries: Sequence[Entry], actual: ActualState, images: Collection[str], service: str, to: int | None,
           restore_database: bool = False, memcached: Sequence[str] = (), configured_tag: str = "",
           host: str = "localhost", server: Mapping[str, Any] | None = None) -> Plan:
    """Pure: the one Plan of a rollback. Per recorded container noop/swap/create (from the recorded image id,
    pinned when its tag has moved), extra containers removed; a restore (then a memcached flush) before the
    swaps when the schema changed since the target; the history record after them (and the service pinned to
    the entry's tag unless that is `configured_tag`)."""
    target = rollback_target(entries, service, to)
    changed = bool(schema_changes_since(entries, service, target))
    changes = [_container(rec, actual, service, changed, host) for rec in target.containers]
    keys = {r.key for r in target.containers}
    changes += [ContainerChange(host, service, c.key, c.name, Action.REMOVE, (f"not part of entry {target.id}",),
                                container_id=c.id)
                for c in actual.containers
                if c.service == service and c.role == "service" and not c.aside and c.key not in keys]
    backups = restore_source(entries, service, target)
    steps = []
    if changed:
        steps.append(_step(host, service, "restore", "restore", restore_database,
                           "the schema changed since the entry", {"backups": [asdict(b) for b in backups],
                                                                   **_server(server)}))
        if memcached:
            steps.append(_step(host, service, "flush-memcached", "flush", restore_database, "rows cached from the "
                               "replaced data", {"servers": list(memcached)}))
    moves = changed or any(c.action.changes for c in changes)
    tags = target.tags
    steps.append(_step(host, service, "history", "record", moves, f"entry to {target.id}",
                       {"kind": "rollback", "target": target.id,
                        "pin": None if tags == [configured_tag] or not tags else tags[0],
                        "databases": [b.database for b in backups] if changed else [], **_server(server)},
                       "after"))
    missing = sorted({r.image_id for r in target.containers if r.image_id not in images})
    title = (f"rollback {service} to history entry {target.id} ({target.kind}, "
             f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(target.time))}, tags {', '.join(tags)})")
    return Plan(actual.deployment, (service,), tuple(changes), tuple(steps), Operation.ROLLBACK, title=title,
                blockers=_blockers(service, target, missing, changed, bool(backups), restore_database))


def _server(server: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"server": dict(server)} if server else {}


def database_server(config: Config) -> dict[str, Any]:
    """Where MariaDB is (its exports: address, port, the root password's key), for a restore over the network
    when it runs on another host; empty when mariadb is disabled."""
    from berth.config.globals import is_enabled
    from berth.lifecycle.wiring import exports

    if not is_enabled(config.globals, "mariadb"):
        return {}
    values = exports(config)
    return {"host": values.get("database_host"), "port": values.get("database_port"),
            "admin_password": values.get("database_admin_password_key")}


def _container(rec: Any, actual: ActualState, service: str, changed: bool, host: str) -> ContainerChange:
    have = actual.main(rec.key)
    pin = None if actual.images.get(rec.image) == rec.image_id else rec.image_id

    def change(action: Action, why: str) -> ContainerChange:
        return ContainerChange(host, service, rec.key, rec.name, action, (why,),
                               container_id=have.id if have else None, image_id=pin)
    aside = any(c.key == rec.key and c.aside for c in actual.containers)  # a swap was interrupted (killed)
    if have is None:
        if aside:  # between "set aside" and "new one created": the old one is renamed back, then swapped
            return change(Action.SWAP, "an interrupted swap left the old container aside")
        return change(Action.CREATE, "container does not exist")
    if (have.image_id, have.spec_hash, have.config_hash) == (rec.image_id, rec.spec_hash, rec.config_hash) \
            and have.running:
        if changed:  # the restore stops it: it is swapped back in like the others
            return change(Action.SWAP, "already as recorded; started again after the database restore")
        if aside:  # the new one runs: checked, then the old one kept aside is removed
            return change(Action.FINISH, "an interrupted swap left the old container aside")
        return change(Action.NOOP, "already as recorded")
    why = (f"image {_short(have.image_id)} -> {_short(rec.image_id)}" if have.image_id != rec.image_id
           else "definition or config differs from the entry")
    return change(Action.SWAP, why)


def _step(host: str, service: str, name: str, kind: str, run: bool, reason: str, payload: dict[str, Any],
          phase: str = "before") -> StepChange:
    return StepChange(host, service, name, kind, run, reason, phase, payload)


def _blockers(service: str, target: Entry, missing: list[str], changed: bool, backups: bool,
              restore_database: bool) -> tuple[Blocker, ...]:
    out = []
    if missing:
        out.append(Blocker(f"image(s) of entry {target.id} no longer exist: {', '.join(missing)}",
                           "build or pull that tag again (`berth build`, `berth pull`), then retry", missing=True))
    if changed and not backups:
        out.append(Blocker(f"the schema of {service} changed since entry {target.id} but no backup was recorded",
                           "restore a database dump by hand; nothing was changed"))
    if changed and not restore_database:
        out.append(Blocker(f"the database schema of {service} changed since entry {target.id}: the old version "
                           "cannot run on it",
                           "run again with --restore-database to restore the backup taken before the upgrade "
                           "(data written since then is lost; the current database is dumped first)"))
    return tuple(out)


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12] or "none"


def target_of(plan: Plan) -> int:
    return int(next(s.payload["target"] for s in plan.steps if s.kind == "record"))


def plan_lines(plan: Plan) -> list[str]:
    lines = [plan.title]
    lines += [f"  {c.action.value:<8} {c.name}: {'; '.join(c.reasons)}" for c in plan.changes]
    restore = next((s for s in plan.steps if s.kind == "restore"), None)
    target = target_of(plan)
    if restore is not None:
        backups = list(restore.payload.get("backups", ()))
        when = min((float(b["taken_at"]) for b in backups), default=0)
        since = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(when)) if when else "?"
        lines.append(f"  the database schema changed since entry {target}: restoring "
                     + ", ".join(str(b["path"]) for b in backups))
        lines.append(f"  data written since {since} ({_age(when)} ago) will be lost; the current database is "
                     "dumped first")
        if not restore.run:
            lines.append("  refused without --restore-database")
    else:
        lines.append("  database schema unchanged since that entry: containers only, no data touched")
    return lines


def _age(when: float) -> str:
    seconds = max(0, int(time.time() - when))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


def check(plan: Plan) -> None:
    """The first blocker as the error it always was: images missing, or a restore not allowed."""
    for blocker in plan.blockers:
        raise (NotFoundError if blocker.missing else DeployError)(blocker.message, blocker.hint)


def memcached_servers(config: Config) -> list[str]:
    """Where a restore's stale cache lives (none when memcached is disabled)."""
    from berth.config.globals import is_enabled

    if not is_enabled(config.globals, "memcached"):
        return []
    from berth.lifecycle.wiring import exports

    return [s for s in str(exports(config)["memcached_servers"]).split(",") if s]


@dataclass
class RollbackResult:
    entry: Entry
    elapsed: float
    lost: LostRows  # database -> table -> (rows now, rows after restore)
    done: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.entry.summary(), "elapsed": round(self.elapsed, 2),
                "lost_rows": {db: {t: {"before": a, "after": b} for t, (a, b) in tables.items()}
                              for db, tables in self.lost.items()}, "done": self.done}


def desired_for(plan: Plan, entries: Sequence[Entry], secrets: frozenset[str], host: str = "localhost"
                ) -> DesiredState:
    """The target entry's containers as the desired state: rollback is a plan against a recorded entry.
    Pure: the deployment host builds it for any host from that host's history."""
    service, target = plan.services[0], target_of(plan)
    entry = next(e for e in entries if e.id == target)
    return DesiredState(plan.deployment, (ServiceUnit(service, host),),
                        tuple(desired_of(r, service, host) for r in entry.containers), secrets=secrets)


def context(config: Config, engine: Engine, plan: Plan, entries: list[Entry], actual: ActualState) -> HostContext:
    """The all-in-one's executor context: the entry's containers, this host's engine and state."""
    desired = desired_for(plan, entries, frozenset(secret_values(config.passwords)))
    return HostContext(engine, desired, config.deployment_dir, config.passwords, actual)


def run_rollback(ctx: HostContext, plan: Plan, progress: Progress) -> RollbackResult:
    """Apply the plan with the one executor; the failure (after the old container was put back) is raised."""
    from berth.lifecycle.deploy import raise_first

    start = time.monotonic()
    executor = Executor(ctx, plan)
    raise_first(executor.run(progress_events(progress), progress))
    service = plan.services[0]
    return RollbackResult(executor.entries[service], time.monotonic() - start, executor.lost,
                          executor.results.get(service, []))
