"""One plan, one executor: stop and destroy as plans applied by the executor against the in-memory engine
(state in, plan items and engine calls out)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from berth.engine import labels
from berth.engine.memory import MemoryEngine
from berth.errors import DeployError, NotFoundError
from berth.lifecycle import backup, rollback, upgrade
from berth.lifecycle.maintenance import execute, op_lines, stop_plan
from berth.lifecycle.records import desired_of, record_of
from berth.plan.codec import from_data, to_data
from berth.plan.model import Action, ContainerChange, ObjectChange, Operation, Order, Plan
from berth.plan.planner import make_plan
from berth.run import actions
from berth.run.executor import HostContext
from berth.state.desired import DesiredContainer, DesiredState, DesiredStep, ServiceUnit
from berth.state.history import Backup, Entry, History
from berth.state.observe import observe
from berth.state.store import StateStore

UNITS = (ServiceUnit("mariadb", "localhost"), ServiceUnit("memcached", "localhost"),
         ServiceUnit("keystone", "localhost", ("mariadb", "memcached")),
         ServiceUnit("glance", "localhost", ("keystone", "mariadb")))
DESIRED = DesiredState("berth", UNITS)


def _engine(states: dict[str, str]) -> MemoryEngine:
    engine = MemoryEngine()
    for name, state in states.items():
        engine.add_container(name, f"berth/{name}:zed", {labels.DEPLOYMENT: "berth", labels.SERVICE: name,
                                                         labels.CONTAINER: name}, state=state)
    engine.create_volume("mariadb", {labels.DEPLOYMENT: "berth"})
    engine.calls.clear()
    return engine


def _stops(engine: MemoryEngine) -> list[str]:
    return [c[1] for c in engine.calls if c[0] == "stop"]


def test_operations_order_their_services() -> None:
    assert Operation.DEPLOY.order is Order.DEPENDENCIES and Operation.RECONFIGURE.order is Order.DEPENDENCIES
    assert Operation.STOP.order is Order.REVERSE and Operation.DESTROY.order is Order.REVERSE
    assert Operation.UPGRADE.order is Order.SERIAL and Operation.ROLLBACK.order is Order.SERIAL


def test_stop_plans_running_containers_and_stops_dependents_first(tmp_path: Path) -> None:
    engine = _engine({"mariadb": "running", "memcached": "running", "keystone": "running", "glance": "exited"})
    plan = stop_plan(DESIRED, observe(engine, "berth", tmp_path), None)
    assert plan.operation is Operation.STOP
    assert sorted((c.name, c.action) for c in plan.changes) == [
        ("keystone", Action.STOP), ("mariadb", Action.STOP), ("memcached", Action.STOP)]
    assert op_lines(plan)[0] == "stop (dependents first):"
    assert "  stop    container keystone: service keystone" in op_lines(plan)
    executor = execute(engine, plan, DESIRED, tmp_path, lambda line: None)
    assert executor.result is not None and executor.result.ok
    stops = _stops(engine)
    assert stops.index("keystone") < stops.index("mariadb") and stops.index("keystone") < stops.index("memcached")
    assert {n: s for n, (_, s) in engine.states().items()} == {n: "exited" for n in engine.states()}


def test_stop_of_one_service_leaves_the_others(tmp_path: Path) -> None:
    engine = _engine({"mariadb": "running", "keystone": "running"})
    plan = stop_plan(DESIRED, observe(engine, "berth", tmp_path), ["keystone"])
    execute(engine, plan, DESIRED, tmp_path, lambda line: None)
    assert engine.calls == [("stop", "keystone")]
    assert engine.states()["mariadb"][1] == "running"


def _destroy_plan(engine: MemoryEngine, state: Path) -> Plan:
    changes = tuple(ContainerChange("localhost", c.labels[labels.SERVICE], c.name, c.name, Action.REMOVE,
                                    (c.state,), container_id=c.id) for c in engine.containers())
    objects = (ObjectChange("state", str(state), "remove", "generated state"),
               ObjectChange("volume", "mariadb", "remove", "data is lost", "mariadb"),
               ObjectChange("image", "berth/keystone:zed", "remove", "", "berth/keystone:zed"))
    return Plan("berth", changes=changes, objects=objects, operation=Operation.DESTROY, title="destroy:")


def test_destroy_removes_containers_dependents_first_then_volumes_images_and_state(tmp_path: Path) -> None:
    engine = _engine({"mariadb": "running", "memcached": "running", "keystone": "running", "glance": "exited"})
    engine.add_image("berth/keystone:zed")
    state = tmp_path / "state"
    (state / "backups").mkdir(parents=True)
    (state / "history.json").write_text("{}")
    plan = _destroy_plan(engine, state)
    assert from_data(Plan, to_data(plan)) == plan  # a plan of any operation survives JSON
    executor = execute(engine, plan, DESIRED, tmp_path, lambda line: None)
    removed = [c[1] for c in engine.calls if c[0] == "remove"]
    assert removed.index("glance") < removed.index("keystone") < removed.index("mariadb")
    assert engine.calls[-2:] == [("remove_volume", "mariadb"), ("remove_image", "berth/keystone:zed")]
    assert engine.states() == {} and not engine.volumes() and not engine.images()
    assert [p.name for p in state.iterdir()] == ["backups"]  # the dumps are kept
    assert executor.objects_done == ["volume mariadb: removed", "image berth/keystone:zed: removed",
                                     f"state {state}: removed"]


def test_destroy_says_what_was_already_gone(tmp_path: Path) -> None:
    engine = _engine({})
    plan = Plan("berth", objects=(ObjectChange("volume", "gone", "remove", "", "gone"),),
                operation=Operation.DESTROY)
    assert execute(engine, plan, DESIRED, tmp_path, lambda line: None).objects_done == ["volume gone: already gone"]


# --- rollback: swap to the recorded records, remove extras, restore only when asked -------------------------------

OLD, NEW = "berth/keystone:old", "berth/keystone:new"


def _want(image: str) -> DesiredContainer:
    return DesiredContainer(key="keystone", service="keystone", name="keystone", host="localhost", image=image,
                            image_id=f"sha256:{image}", spec={"image": image}, files={"keystone.conf": image},
                            health=("tcp", "127.0.0.1", "5000"), health_timeout=0.0)


def _history(tmp_path: Path, schema_changed: bool = False) -> list[Entry]:
    history = History(tmp_path)
    history.add(Entry(0, 1.0, "keystone", "deploy", (record_of(_want(OLD)),), stamps={"keystone/db-sync": "s1"}))
    history.add(Entry(0, 2.0, "keystone", "upgrade", (record_of(_want(NEW)),), schema_changed=schema_changed,
                      backups=(Backup("keystone", str(tmp_path / "b.sql.gz"), 2.0),)))
    return history.entries()


def _rollback_engine() -> MemoryEngine:
    engine = MemoryEngine()
    engine.add_image(OLD, f"sha256:{OLD}")
    engine.add_image(NEW, f"sha256:{NEW}")
    engine.add_container("keystone", NEW, actions.container_labels("berth", _want(NEW)))
    engine.add_container("keystone-extra", NEW, {**actions.container_labels("berth", _want(NEW)),
                                                 labels.CONTAINER: "keystone-extra"})
    engine.calls.clear()
    return engine


def _rollback(engine: MemoryEngine, tmp_path: Path, entries: list[Entry], restore: bool = False) -> Any:
    actual = observe(engine, "berth", tmp_path)
    plan = rollback.decide(entries, actual, {i.id for i in engine.images()}, "keystone", None, restore)
    target = next(e for e in entries if e.id == rollback.target_of(plan))
    desired = DesiredState("berth", (ServiceUnit("keystone", "localhost"),),
                           tuple(desired_of(r, "keystone") for r in target.containers))
    return plan, rollback.run_rollback(HostContext(engine, desired, tmp_path, {}, actual), plan, lambda m: None)


def test_rollback_swaps_to_the_recorded_container_and_removes_extras(tmp_path: Path) -> None:
    engine = _rollback_engine()
    plan, result = _rollback(engine, tmp_path, _history(tmp_path))
    assert [(c.name, c.action) for c in plan.changes] == [("keystone", Action.SWAP), ("keystone-extra",
                                                                                      Action.REMOVE)]
    assert engine.calls == [("stop", "keystone"), ("rename", "keystone", "keystone--aside"),
                            ("create", "keystone", OLD), ("start", "keystone"), ("exec", "keystone", "berth-health"),
                            ("remove", "keystone--aside"), ("remove", "keystone-extra")]
    assert engine.states() == {"keystone": (OLD, "running")}
    last = History(tmp_path).entries()[-1]
    assert (last.kind, last.note, last.stamps) == ("rollback", "to entry 1", {"keystone/db-sync": "s1"})
    assert result.entry == last and StateStore(tmp_path).read()["pins"] == {"keystone": "old"}
    assert (tmp_path / "config" / "keystone" / "keystone.conf").read_text() == OLD


def test_rollback_over_a_schema_change_restores_first_only_when_asked(tmp_path: Path, monkeypatch: Any) -> None:
    did: list[str] = []
    monkeypatch.setattr(backup, "database_container", lambda engine, deployment: "db")
    monkeypatch.setattr(backup, "dump", lambda e, db, name, path: did.append(f"dump {name}") or
                        Backup(name, str(path), 3.0))
    monkeypatch.setattr(backup, "restore", lambda e, db, item: did.append(f"restore {item.path}"))
    monkeypatch.setattr(backup, "row_counts", lambda e, db, name: {"project": 3 - len(did[1:])})
    monkeypatch.setattr(backup, "fingerprint", lambda e, db, name: "fp")
    entries = _history(tmp_path, schema_changed=True)
    engine = _rollback_engine()
    refused = rollback.decide(entries, observe(engine, "berth", tmp_path), set(), "keystone", None)
    with pytest.raises(NotFoundError):
        rollback.check(refused)  # images are checked first; then the restore refusal
    with pytest.raises(DeployError, match="schema of keystone changed since entry 1") as info:
        rollback.check(dataclasses.replace(refused, blockers=refused.blockers[1:]))
    assert "--restore-database" in info.value.hint
    plan, result = _rollback(engine, tmp_path, entries, restore=True)
    assert [s.kind for s in plan.steps if s.run] == ["restore", "record"]
    assert did == ["dump keystone", f"restore {tmp_path / 'b.sql.gz'}"]
    assert engine.calls[0] == ("stop", "keystone")  # the service stops before its database is replaced
    assert result.lost == {"keystone": {"project": (3, 2)}}
    last = History(tmp_path).entries()[-1]
    assert last.schema_changed and last.backups[0].database == "keystone"


# --- upgrade: backup -> expand -> swap -> contract -> record; a failed swap puts the old one back ----------------


def _oneshot(name: str, phase: str) -> DesiredStep:
    box = DesiredContainer(key=f"keystone-{name}", service="keystone", name=f"keystone-{name}", host="localhost",
                           image=NEW, image_id=f"sha256:{NEW}", spec={"image": NEW})
    return DesiredStep("keystone", name, "oneshot", "localhost", phase, base=name, container=box)


def _upgrade_desired() -> DesiredState:
    return DesiredState("berth", (ServiceUnit("keystone", "localhost"),), (_want(NEW),),
                        (_oneshot("db-sync", "before"),),
                        upgrade_steps=(_oneshot("db-expand", "before"), _oneshot("db-contract", "after")),
                        replaced={"keystone": ("db-sync",)})


def _upgrade(tmp_path: Path, engine: MemoryEngine, monkeypatch: Any) -> tuple[Plan, list[str], Any]:
    did: list[str] = []
    monkeypatch.setattr(backup, "database_container", lambda engine, deployment: "db")
    monkeypatch.setattr(backup, "dump", lambda e, db, name, path: did.append(f"dump {name}") or
                        Backup(name, str(path), 3.0))
    monkeypatch.setattr(backup, "fingerprint", lambda e, db, name: "fp")
    desired, actual = _upgrade_desired(), observe(engine, "berth", tmp_path)
    snap = SimpleNamespace(desired=desired, actual=actual, plan=make_plan(desired, actual, ["keystone"]))
    config = SimpleNamespace(deployment_dir=tmp_path, globals=SimpleNamespace(image_tag="new", docker_registry=""))
    plan = upgrade.plan_upgrade(config, snap, ["keystone"], False, "zed",  # type: ignore[arg-type]
                                History(tmp_path).entries())
    ctx = HostContext(engine, desired, tmp_path, {}, actual)
    return plan, did, lambda: upgrade.run_upgrade(ctx, plan, lambda m: None)


UPGRADE_CALLS = [("create", "keystone-db-expand", NEW), ("start", "keystone-db-expand"),
                 ("wait", "keystone-db-expand"), ("remove", "keystone-db-expand"),
                 ("stop", "keystone"), ("rename", "keystone", "keystone--aside"), ("create", "keystone", NEW),
                 ("start", "keystone"), ("exec", "keystone", "berth-health")]


def test_upgrade_plan_items_run_in_order_and_record_the_entry(tmp_path: Path, monkeypatch: Any) -> None:
    engine = MemoryEngine()
    engine.add_container("keystone", OLD, actions.container_labels("berth", _want(OLD)))
    plan, did, run = _upgrade(tmp_path, engine, monkeypatch)
    assert plan.operation is Operation.UPGRADE and plan.tag == "new"
    assert [(s.name, s.kind, s.phase) for s in plan.steps] == [
        ("backup", "backup", "before"), ("db-expand", "oneshot", "before"), ("db-contract", "oneshot", "after"),
        ("history", "record", "after")]
    assert [(c.name, c.action) for c in plan.changes] == [("keystone", Action.SWAP)]
    assert upgrade.plan_lines(plan)[1:] == [
        "  keystone:", "    back up databases keystone (mariadb-dump, gzip)", "    steps with the new image: db-expand",
        f"    swap     keystone: {'; '.join(plan.changes[0].reasons)}",
        "    after the swap: db-contract"]
    entries, done = run()
    assert engine.calls == UPGRADE_CALLS + [
        ("remove", "keystone--aside"), ("create", "keystone-db-contract", NEW), ("start", "keystone-db-contract"),
        ("wait", "keystone-db-contract"), ("remove", "keystone-db-contract")]
    assert did == ["dump keystone"] and engine.states() == {"keystone": (NEW, "running")}
    history = History(tmp_path).entries()
    assert [(e.kind, e.state) for e in history] == [("deploy", "done"), ("upgrade", "done")]
    assert entries == history[-1:] and history[-1].containers[0].image_id == f"sha256:{NEW}"
    assert StateStore(tmp_path).read()["pins"] == {"keystone": "new"}
    assert set(StateStore(tmp_path).read()["stamps"]) == {"keystone/db-expand", "keystone/db-contract",
                                                          "keystone/db-sync"}  # replaced: counts as done
    assert done["keystone"][-1] == "history entry 2: schema unchanged"


def test_a_failing_swap_puts_the_old_container_back_and_the_entry_stays_pending(tmp_path: Path,
                                                                                monkeypatch: Any) -> None:
    engine = MemoryEngine()
    engine.add_container("keystone", OLD, actions.container_labels("berth", _want(OLD)))
    engine.health[NEW] = 1
    _, _, run = _upgrade(tmp_path, engine, monkeypatch)
    with pytest.raises(DeployError, match=r"did not become healthy.*\(the previous container was put back\)$"):
        run()
    assert engine.calls == UPGRADE_CALLS + [("remove", "keystone"), ("rename", "keystone--aside", "keystone"),
                                            ("start", "keystone"), ("exec", "keystone", "berth-health")]
    assert engine.states() == {"keystone": (OLD, "running")}
    last = History(tmp_path).entries()[-1]
    assert last.state == "pending" and last.note.startswith("failed: container keystone did not become healthy")
    assert StateStore(tmp_path).read()["pins"] == {}


def test_an_interrupted_upgrade_is_finished_with_its_pending_entry(tmp_path: Path, monkeypatch: Any) -> None:
    engine = MemoryEngine()
    engine.add_container("keystone--aside", OLD, actions.container_labels("berth", _want(OLD)), state="exited")
    engine.add_container("keystone", NEW, actions.container_labels("berth", _want(NEW)), state="created")
    History(tmp_path).add(Entry(0, 1.0, "keystone", "upgrade", state="pending", note="to new"))
    engine.calls.clear()
    plan, did, run = _upgrade(tmp_path, engine, monkeypatch)
    assert [(c.name, c.action) for c in plan.changes] == [("keystone", Action.FINISH),
                                                          ("keystone--aside", Action.REMOVE)]
    assert upgrade.plan_lines(plan)[1] == "  keystone: (finishing an interrupted upgrade)"
    _, done = run()
    assert did == [] and done["keystone"][0] == "finishing the interrupted upgrade of entry 1"
    assert engine.states() == {"keystone": (NEW, "running")}
    assert [(e.kind, e.state) for e in History(tmp_path).entries()] == [("upgrade", "done")]
