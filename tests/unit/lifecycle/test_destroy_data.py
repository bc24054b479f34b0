"""Service data on host directories (`<state_dir>/<deployment>/data`) outlives `berth destroy` unless it is given
--include-data: the plan says so, the executor keeps the directory when it removes the state, and the fact that
the directory exists travels with a host's facts like the others."""

from __future__ import annotations

from pathlib import Path

from berth.cli.main import main
from berth.config.loader import Config, load_config
from berth.engine.memory import MemoryEngine
from berth.lifecycle.maintenance import destroy_plan, execute, op_lines, units_of
from berth.plan.codec import from_data, to_data
from berth.state.actual import ActualState
from berth.state.facts import HostFacts, observe_facts


def _config(root: Path) -> Config:
    (root / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {root / 'state'}\nlog_dir: {root / 'log'}\n")
    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    return load_config(root)


def _state(config: Config) -> None:
    (config.data_dir / "swift" / "d0").mkdir(parents=True)
    (config.data_dir / "swift" / "d0" / "object").write_text("precious")
    (config.deployment_dir / "backups").mkdir()
    (config.deployment_dir / "history.json").write_text("{}")


def test_observed_facts_say_whether_data_exists(tmp_path: Path) -> None:
    config = _config(tmp_path)
    engine = MemoryEngine()
    assert not observe_facts(engine, "unit", config.deployment_dir).data_dir
    _state(config)
    facts = observe_facts(engine, "unit", config.deployment_dir)
    assert facts.data_dir and facts.state_dir
    assert from_data(HostFacts, to_data(facts)).data_dir  # what a remote host reports


def test_destroy_keeps_data_by_default(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _state(config)
    plan = destroy_plan(config, HostFacts(ActualState("unit"), state_dir=True, data_dir=True), False)
    data = [o for o in plan.objects if o.kind == "data"]
    assert [(o.name, o.action) for o in data] == [(str(config.data_dir), "keep")]
    assert f"  keep    data      {config.data_dir}: service data (--include-data removes it)" in op_lines(plan)
    execute(MemoryEngine(), plan, units_of(config), config.deployment_dir, lambda line: None)
    assert sorted(p.name for p in config.deployment_dir.iterdir()) == ["backups", "data"]
    assert (config.data_dir / "swift" / "d0" / "object").read_text() == "precious"


def test_destroy_with_include_data_removes_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _state(config)
    plan = destroy_plan(config, HostFacts(ActualState("unit"), state_dir=True, data_dir=True), False,
                        include_data=True)
    assert [(o.kind, o.action) for o in plan.objects] == [("data", "remove"), ("state", "remove")]
    executor = execute(MemoryEngine(), plan, units_of(config), config.deployment_dir, lambda line: None)
    assert [p.name for p in config.deployment_dir.iterdir()] == ["backups"]
    assert executor.objects_done == [f"data {config.data_dir}: removed", f"state {config.deployment_dir}: removed"]


def test_no_data_no_item(tmp_path: Path) -> None:
    config = _config(tmp_path)
    plan = destroy_plan(config, HostFacts(ActualState("unit"), state_dir=True), False, include_data=True)
    assert [o.kind for o in plan.objects] == ["state"]
