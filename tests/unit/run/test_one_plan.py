"""One plan, one executor: stop and destroy as plans applied by the executor against the in-memory engine
(state in, plan items and engine calls out)."""

from __future__ import annotations

from pathlib import Path

from berth.engine import labels
from berth.engine.memory import MemoryEngine
from berth.lifecycle.maintenance import execute, op_lines, stop_plan
from berth.plan.codec import from_data, to_data
from berth.plan.model import Action, ContainerChange, ObjectChange, Operation, Order, Plan
from berth.state.desired import DesiredState, ServiceUnit

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
    plan = stop_plan(DESIRED, engine, None)
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
    plan = stop_plan(DESIRED, engine, ["keystone"])
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
