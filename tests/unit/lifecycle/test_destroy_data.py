"""Service data on host directories (a service's teardown `data_dirs`: Swift's devices here) outlives
`berth destroy` unless it is given --include-data: the plan says so, and removing the state directory keeps
`data/` (where Swift's devices live) as it keeps `backups/`."""

from __future__ import annotations

from pathlib import Path

from berth.cli.main import main
from berth.config.loader import Config, load_config
from berth.engine.memory import MemoryEngine
from berth.lifecycle.maintenance import destroy_plan, execute, op_lines, units_of
from berth.state.actual import ActualState
from berth.state.facts import HostFacts


def _config(root: Path, swift: bool = True) -> Config:
    (root / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {root / 'state'}\nlog_dir: {root / 'log'}\n"
                                      f"enable_swift: {str(swift).lower()}\n")
    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    return load_config(root)


def _state(config: Config) -> Path:
    devices = config.deployment_dir / "data" / "swift"
    (devices / "d0").mkdir(parents=True)
    (devices / "d0" / "object").write_text("precious")
    (config.deployment_dir / "backups").mkdir()
    (config.deployment_dir / "history.json").write_text("{}")
    return devices


def test_destroy_keeps_data_by_default(tmp_path: Path) -> None:
    config = _config(tmp_path)
    devices = _state(config)
    plan = destroy_plan(config, HostFacts(ActualState("unit"), state_dir=True), False)
    assert [(o.name, o.action) for o in plan.objects if o.kind == "data"] == [(str(devices), "keep")]
    assert any(str(devices) in line and "--include-data removes it" in line for line in op_lines(plan))
    execute(MemoryEngine(), plan, units_of(config), config.deployment_dir, lambda line: None)
    assert sorted(p.name for p in config.deployment_dir.iterdir()) == ["backups", "data"]
    assert (devices / "d0" / "object").read_text() == "precious"


def test_destroy_with_include_data_removes_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    devices = _state(config)
    plan = destroy_plan(config, HostFacts(ActualState("unit"), state_dir=True), False, include_data=True)
    assert [(o.kind, o.action) for o in plan.objects] == [("data", "remove"), ("state", "remove")]
    executor = execute(MemoryEngine(), plan, units_of(config), config.deployment_dir, lambda line: None)
    assert not devices.exists() and (config.deployment_dir / "backups").is_dir()
    assert executor.objects_done == [f"data {devices}: removed", f"state {config.deployment_dir}: removed"]


def test_a_service_not_enabled_declares_no_data(tmp_path: Path) -> None:
    config = _config(tmp_path, swift=False)
    plan = destroy_plan(config, HostFacts(ActualState("unit"), state_dir=True), False, include_data=True)
    assert [o.kind for o in plan.objects] == ["state"]
