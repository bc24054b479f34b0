"""The engine seam: only berth/engine imports the docker SDK; the one reversible replace and the executor's
container actions against the in-memory engine (state in, engine calls and final containers out)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from berth.engine.memory import MemoryContainer, MemoryEngine
from berth.errors import DeployError
from berth.plan.planner import make_plan
from berth.run import actions
from berth.run.executor import Executor, HostContext
from berth.run.swap import finish, swap
from berth.state.desired import DesiredContainer, DesiredState, ServiceUnit
from berth.state.observe import observe

BERTH = Path(__file__).resolve().parents[2] / "berth"


def _docker_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
        found += [f"{path.relative_to(BERTH.parent)}:{node.lineno}: {n}" for n in names
                  if n.split(".")[0] == "docker"]
    return found


def test_only_the_engine_package_imports_the_docker_sdk() -> None:
    offenders = [hit for path in sorted(BERTH.rglob("*.py")) if BERTH / "engine" not in path.parents
                 for hit in _docker_imports(path)]
    assert offenders == [], "import the engine seam (berth.engine.base.Engine) instead:\n" + "\n".join(offenders)


def test_the_scan_sees_imports() -> None:
    assert _docker_imports(BERTH / "engine" / "docker_engine.py")


# --- the one reversible replace ------------------------------------------------------------------------------------

OLD, NEW = "berth/keystone:old", "berth/keystone:new"


def _want(image: str = NEW, **extra: Any) -> DesiredContainer:
    return DesiredContainer(key="keystone", service="keystone", name="keystone", host="localhost", image=image,
                            image_id=f"sha256:{image}", spec={"image": image, "environment": {}},
                            files={"keystone.conf": image}, health=("tcp", "127.0.0.1", "5000"),
                            health_timeout=0.0, **extra)


def _engine() -> tuple[MemoryEngine, Any]:
    engine = MemoryEngine()
    old = engine.add_container("keystone", OLD, actions.container_labels("berth", _want(OLD)))
    return engine, old


def _swap(engine: MemoryEngine, old: Any, want: DesiredContainer, on_failure: Any = lambda: None) -> Any:
    def wait(c: Any) -> None:
        actions.wait_healthy(engine, c, want, (), lambda m: None)
    return swap(engine, "berth", old, want, (), lambda m: None, wait=wait, on_failure=on_failure)


def test_stop_first_swap_replaces_and_removes_the_old_one() -> None:
    engine, old = _engine()
    _swap(engine, old, _want())
    assert engine.calls == [("stop", "keystone"), ("rename", "keystone", "keystone--aside"),
                            ("create", "keystone", NEW), ("start", "keystone"), ("exec", "keystone", "berth-health"),
                            ("remove", "keystone--aside")]
    assert engine.states() == {"keystone": (NEW, "running")}


def test_a_new_container_failing_health_puts_the_old_one_back_with_its_files(tmp_path: Path) -> None:
    engine, old = _engine()
    engine.health[NEW] = 1
    actions.write_config_dir(tmp_path, {"keystone.conf": NEW})
    with pytest.raises(DeployError, match=r"did not become healthy.*\(the previous container was put back\)$"):
        _swap(engine, old, _want(), on_failure=lambda: actions.write_config_dir(tmp_path, {"keystone.conf": OLD}))
    assert engine.calls == [("stop", "keystone"), ("rename", "keystone", "keystone--aside"),
                            ("create", "keystone", NEW), ("start", "keystone"), ("exec", "keystone", "berth-health"),
                            ("remove", "keystone"), ("rename", "keystone--aside", "keystone"),
                            ("start", "keystone"), ("exec", "keystone", "berth-health")]
    assert engine.states() == {"keystone": (OLD, "running")}
    assert (tmp_path / "keystone.conf").read_text() == OLD


def test_a_new_container_that_crashes_is_named_with_its_log() -> None:
    engine, old = _engine()
    engine.crash[NEW], engine.logs_by_image[NEW] = 3, "boom: no database\n"
    with pytest.raises(DeployError, match="exited with status 3") as info:
        _swap(engine, old, _want())
    assert info.value.details == ["boom: no database"]
    assert engine.states() == {"keystone": (OLD, "running")}


def test_overlap_starts_the_new_one_next_to_the_serving_old_one() -> None:
    engine, old = _engine()
    engine.logs_by_image[NEW] = "keystone serving on 5000\n"
    _swap(engine, old, _want(swap="overlap", ready_log="serving on"))
    assert engine.calls == [("rename", "keystone", "keystone--aside"), ("create", "keystone", NEW),
                            ("start", "keystone"), ("stop", "keystone--aside"), ("exec", "keystone", "berth-health"),
                            ("remove", "keystone--aside")]
    assert engine.states() == {"keystone": (NEW, "running")}


def _port_held(engine: MemoryEngine, box: MemoryContainer) -> None:
    """The old process bound without SO_REUSEPORT: a new one dies while the old one runs."""
    aside = engine.named("keystone--aside")
    if box.image == NEW and aside is not None and aside.state == "running":
        box.state, box.exit_code = "exited", 1
        box.log += "OSError: [Errno 98] Address already in use\n"


def test_overlap_falls_back_to_stop_first_when_the_port_cannot_be_shared() -> None:
    engine, old = _engine()
    engine.on_start = _port_held
    _swap(engine, old, _want(swap="overlap", ready_log="serving on"))
    assert engine.calls == [("rename", "keystone", "keystone--aside"), ("create", "keystone", NEW),
                            ("start", "keystone"), ("remove", "keystone"), ("stop", "keystone--aside"),
                            ("create", "keystone", NEW), ("start", "keystone"), ("exec", "keystone", "berth-health"),
                            ("remove", "keystone--aside")]
    assert engine.states() == {"keystone": (NEW, "running")}


def test_a_leftover_aside_copy_is_removed_first_and_nothing_to_replace_just_creates() -> None:
    engine, old = _engine()
    engine.add_container("keystone--aside", OLD, state="exited")
    _swap(engine, old, _want())
    assert engine.calls[0] == ("remove", "keystone--aside") and engine.states() == {"keystone": (NEW, "running")}
    fresh = MemoryEngine()
    _swap(fresh, None, _want())
    assert fresh.calls == [("create", "keystone", NEW), ("start", "keystone"), ("exec", "keystone", "berth-health")]


@pytest.mark.parametrize("new_health,states,put_back", [
    (0, {"keystone": (NEW, "running")}, False),
    (1, {"keystone": (OLD, "running")}, True),
])
def test_finishing_an_interrupted_swap(new_health: int, states: dict[str, Any], put_back: bool) -> None:
    engine = MemoryEngine()
    aside = engine.add_container("keystone--aside", OLD, state="exited")
    new = engine.add_container("keystone", NEW, state="created")
    engine.health[NEW] = new_health
    want = _want()

    def run() -> None:
        finish(engine, "berth", aside, new, want, (), lambda m: None,
               wait=lambda c: actions.wait_healthy(engine, c, want, (), lambda m: None))
    if put_back:
        with pytest.raises(DeployError, match=r"\(the previous container was put back\)"):
            run()
    else:
        run()
    assert engine.states() == states


# --- the executor: state in, engine calls and final containers out ------------------------------------------------

IMAGE = "berth/memcached:zed"


def _mc(env: str = "a", conf: str = "x") -> DesiredContainer:
    return DesiredContainer(key="memcached", service="memcached", name="memcached", host="localhost", image=IMAGE,
                            image_id="sha256:mc", spec={"image": IMAGE, "environment": {"E": env}},
                            files={"memcached.conf": conf}, health=("tcp", "127.0.0.1", "11211"))


CASES = {  # existing container: (labels made from this definition, state) -> engine calls of one deploy
    "missing": (None, "running", [("create", "memcached", IMAGE), ("start", "memcached"),
                                  ("exec", "memcached", "berth-health")]),
    "unchanged": (_mc(), "running", []),
    "exited": (_mc(), "exited", [("start", "memcached"), ("exec", "memcached", "berth-health")]),
    "config changed": (_mc(conf="old"), "running", [("stop", "memcached"), ("start", "memcached"),
                                                    ("exec", "memcached", "berth-health")]),
    "definition changed": (_mc(env="old"), "running", [
        ("stop", "memcached"), ("rename", "memcached", "memcached--aside"), ("create", "memcached", IMAGE),
        ("start", "memcached"), ("exec", "memcached", "berth-health"), ("remove", "memcached--aside")]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_executor_container_actions(case: str, tmp_path: Path) -> None:
    existing, state, calls = CASES[case]
    engine = MemoryEngine()
    engine.add_image(IMAGE, "sha256:mc")
    if existing is not None:
        engine.add_container("memcached", IMAGE, actions.container_labels("berth", existing), state=state)
    unit = ServiceUnit("memcached", "localhost")
    desired = DesiredState("berth", (unit,), (_mc(),))
    actual = observe(engine, "berth", tmp_path)
    host = HostContext(engine=engine, desired=desired, deployment_dir=tmp_path, passwords={}, actual=actual)
    Executor(host, make_plan(desired, actual)).converge_service(unit, lambda m: None)
    assert engine.calls == calls
    assert engine.states() == {"memcached": (IMAGE, "running")}
    if case != "unchanged":  # a no-op service is not touched at all, not even its files
        assert (tmp_path / "config" / "memcached" / "memcached.conf").read_text() == "x"


def test_executor_recreate_failure_restores_the_old_files_and_container(tmp_path: Path) -> None:
    engine = MemoryEngine()
    engine.add_image(IMAGE, "sha256:mc")
    engine.add_container("memcached", IMAGE, actions.container_labels("berth", _mc(env="old", conf="old")))
    actions.write_config_dir(tmp_path / "config" / "memcached", {"memcached.conf": "old"})
    starts: list[str] = []

    def crash_new(eng: MemoryEngine, box: MemoryContainer) -> None:
        starts.append(box.id)
        if len(starts) == 1:  # the new container dies; the old one starts fine again
            box.state, box.exit_code = "exited", 2
    engine.on_start = crash_new
    unit = ServiceUnit("memcached", "localhost")
    desired = DesiredState("berth", (unit,), (_mc(),))
    actual = observe(engine, "berth", tmp_path)
    host = HostContext(engine=engine, desired=desired, deployment_dir=tmp_path, passwords={}, actual=actual)
    with pytest.raises(DeployError, match=r"exited with status 2.*\(the previous container was put back\)"):
        Executor(host, make_plan(desired, actual)).converge_service(unit, lambda m: None)
    assert engine.states() == {"memcached": (IMAGE, "running")}
    assert engine.containers()[0].labels["berth.spec-hash"] == _mc(env="old").spec_hash
    assert (tmp_path / "config" / "memcached" / "memcached.conf").read_text() == "old"
