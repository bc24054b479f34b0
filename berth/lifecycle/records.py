"""History entries from what runs: after a deploy, before an upgrade (a baseline), after an upgrade/rollback."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from berth.engine.base import Engine
from berth.state.actual import ActualState
from berth.state.desired import DesiredContainer, DesiredState, with_image_ids
from berth.state.history import DONE, ContainerRecord, Entry, History, current
from berth.state.observe import observe
from berth.state.store import StateStore


def record_of(want: DesiredContainer, image_id: str | None = None) -> ContainerRecord:
    return ContainerRecord(key=want.key, name=want.name, image=want.image, image_id=image_id or want.image_id or "",
                           config_hash=want.config_hash, spec_hash=want.spec_hash, spec=dict(want.spec),
                           files=dict(want.files), health=tuple(want.health), health_timeout=want.health_timeout,
                           stop_timeout=want.stop_timeout, swap=want.swap, ready_log=want.ready_log)


def desired_of(record: ContainerRecord, service: str, host: str = "localhost") -> DesiredContainer:
    """The container an entry recorded, as a value the swap can create again (same hashes, same labels)."""
    return DesiredContainer(key=record.key, service=service, name=record.name, host=host, image=record.image,
                            image_id=record.image_id, spec=dict(record.spec), files=dict(record.files),
                            health=tuple(record.health), health_timeout=record.health_timeout,
                            stop_timeout=record.stop_timeout, swap=record.swap, ready_log=record.ready_log)


def service_stamps(desired: DesiredState, service: str, store: StateStore) -> dict[str, str]:
    stamps = store.read()["stamps"]
    ids = {s.id for s in desired.steps_of(service)}
    return {k: v for k, v in stamps.items() if k in ids}


def baseline(desired: DesiredState, actual: ActualState, service: str, store: StateStore,
             kind: str = "deploy", note: str = "") -> Entry | None:
    """An entry for what runs now, when every container of the service runs what the configuration says.

    Built from the running containers' own hashes, so a service deployed before history existed still gets a
    rollback target. None when a container is missing or differs (nothing trustworthy to record).
    """
    records = []
    for want in desired.containers_of(service):
        have = actual.main(want.key)
        if have is None or have.spec_hash != want.spec_hash or have.config_hash != want.config_hash:
            return None
        records.append(record_of(want, have.image_id))
    if not records:
        return None
    return Entry(id=0, time=time.time(), service=service, kind=kind, containers=tuple(records),
                 stamps=service_stamps(desired, service, store), state=DONE, note=note)


def record_deploy(deployment_dir: Path, engine: Engine, desired: DesiredState,
                  services: Iterable[str], changed: set[str]) -> list[Entry]:
    """After a deploy: an entry per service that changed, or that has none yet (the first rollback target)."""
    history = History(deployment_dir)
    entries = history.entries()
    services = [s for s in services if s in changed or current(entries, s) is None]
    if not services:
        return []
    actual = observe(engine, desired.deployment, deployment_dir)
    desired = with_image_ids(desired, actual.images)
    store = StateStore(deployment_dir)
    out = []
    for service in services:
        entry = baseline(desired, actual, service, store, "deploy")
        if entry is not None:
            out.append(history.add(entry))
    return out
