"""`berth upgrade ceph` on a storage host: the monitor first, then the manager, then the OSD, each swapped only
after the one before is healthy again (its health check is the daemon on its admin socket; the OSD's is `active`:
booted and marked up by the monitors), so no daemon changes while another one of the host is down.

Pure: the real ceph service rendered, an in-memory engine.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from berth.config.loader import load_config
from berth.engine.memory import MemoryEngine
from berth.errors import BerthError
from berth.lifecycle import backup, upgrade
from berth.lifecycle.render import render_desired
from berth.plan.model import Action
from berth.plan.planner import make_plan
from berth.run import actions
from berth.run.executor import HostContext
from berth.state.observe import observe
from tests.unit.services.rendering import config_dir

DAEMONS = ["ceph_mon", "ceph_mgr", "ceph_osd"]


def _upgrade(tmp_path: Path, monkeypatch: Any, healthy: bool) -> tuple[MemoryEngine, Any, Any]:
    """The all-in-one's Ceph on one image tag, its upgrade to another planned; (engine, plan, run)."""
    config = load_config(config_dir(tmp_path, "enable_ceph: true\n"))
    engine = MemoryEngine()
    for have in render_desired(config, {}, pins={}).containers_of("ceph"):
        engine.add_container(have.name, have.image, actions.container_labels("unit", have))
    engine.calls.clear()
    new = upgrade.with_tag(config, "reef-2")
    wanted = render_desired(new, {}, pins={})
    desired = render_desired(new, {w.image: f"sha256:{w.image}" for w in wanted.containers}, pins={})
    if not healthy:  # the health check fails at once rather than after the daemons' real wait_timeout
        desired = dataclasses.replace(desired, containers=tuple(dataclasses.replace(c, health_timeout=0.0)
                                                                for c in desired.containers))
        engine.health.update({w.image: 1 for w in desired.containers})
    actual = observe(engine, "unit", config.deployment_dir)
    snap = SimpleNamespace(desired=desired, actual=actual, plan=make_plan(desired, actual, ["ceph"]))
    plan = upgrade.plan_upgrade(new, snap, ["ceph"], False, "")  # type: ignore[arg-type]
    monkeypatch.setattr(backup, "database_container", lambda engine, deployment: "db")
    ctx = HostContext(engine, desired, config.deployment_dir, config.passwords, actual)
    return engine, plan, lambda: upgrade.run_upgrade(ctx, plan, lambda m: None)


def _daemon_calls(engine: MemoryEngine) -> list[tuple[str, str]]:
    names = {f"unit-{d}": d for d in DAEMONS}
    return [(call[0], names[call[1]]) for call in engine.calls
            if call[0] in ("stop", "start", "exec") and call[1] in names]


def test_an_upgrade_swaps_mon_then_mgr_then_osd_each_after_the_one_before_is_healthy(tmp_path: Path,
                                                                                     monkeypatch: Any) -> None:
    engine, plan, run = _upgrade(tmp_path, monkeypatch, healthy=True)
    assert [(c.key, c.action) for c in plan.changes] == [(d, Action.SWAP) for d in DAEMONS]
    run()
    # stop the old daemon, start the new one, its health check passes: only then the next daemon
    assert _daemon_calls(engine) == [(verb, d) for d in DAEMONS for verb in ("stop", "start", "exec")]


def test_a_monitor_that_does_not_come_back_healthy_stops_the_upgrade_before_the_manager(tmp_path: Path,
                                                                                         monkeypatch: Any) -> None:
    engine, _plan, run = _upgrade(tmp_path, monkeypatch, healthy=False)
    with pytest.raises(BerthError):
        run()
    touched = {daemon for _verb, daemon in _daemon_calls(engine)}
    assert touched == {"ceph_mon"}  # the old monitor put back; manager and OSD never stopped
