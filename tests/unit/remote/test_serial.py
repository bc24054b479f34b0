"""Ceph over three storage hosts, upgraded: every monitor one host at a time, then every manager, then every OSD,
and only then the rest of each host's plan (berth.remote.serial, `serial_across_hosts` in service.yml).

Pure: the real ceph service planned for a 3-host inventory, Ansible replaced by a recorder that reads the plan
file each host is given and answers as `berth apply-plan` would; a host planned again sees what was applied.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from berth.config.loader import Config, load_config
from berth.lifecycle import hostops
from berth.plan.hostplan import HostPlan, read
from berth.plan.model import Action, Operation, StepChange
from berth.remote import deploy, serial
from berth.remote.ansible import HostResult
from berth.state.actual import ActualState
from berth.state.facts import HostFacts
from berth.state.model import load_service
from tests.unit.services.rendering import config_dir
from tests.unit.threehosts import INVENTORY

HOSTS = ["control01", "compute01", "compute02"]
DAEMONS = ["ceph_mon", "ceph_mgr", "ceph_osd"]
STORAGE = INVENTORY.replace("[storage]\n", "[storage]\ncontrol01\ncompute01\ncompute02\n")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    root = tmp_path_factory.mktemp("serial") / "etc"
    root.mkdir()
    return load_config(config_dir(root, "enable_ceph: true\nenable_heat: false\nenable_horizon: false\n", STORAGE),
                       inventory_path=root / "multinode")


def upgraded(plan: HostPlan, services: set[str]) -> HostPlan:
    """The host's plan with every container of `services` swapped and the others unchanged, their steps run, each
    service between a history `backup` and `record` as an upgrade plans them."""
    changes = tuple(dataclasses.replace(c, action=Action.SWAP if c.service in services else Action.NOOP)
                    for c in plan.plan.changes)
    ran = {c.service for c in changes if c.action is Action.SWAP}
    steps = tuple(s for name in sorted(ran) for s in (
        StepChange(plan.host, name, "backup", "backup", True, "before anything changes", "before"),
        *(dataclasses.replace(s, run=True) for s in plan.plan.steps if s.service == name),
        StepChange(plan.host, name, "history", "record", True, "the entry", "after")))
    return dataclasses.replace(plan, plan=dataclasses.replace(plan.plan, changes=changes, steps=steps,
                                                              operation=Operation.UPGRADE))


class Hosts:
    """Stands in for Ansible: `apply` reads each host's plan file and records what it changes; a failure can be
    asked for at (host, container); `replan` gives the host's plan without what was applied there."""

    def __init__(self, plans: Mapping[str, HostPlan], fail: tuple[str, str] | None = None) -> None:
        self.plans = dict(plans)
        self.fail = fail
        self.applied: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []  # host, containers changed, steps run
        self.done: dict[str, set[str]] = {h: set() for h in plans}

    def __call__(self, name: str, inventory: Path, hosts: Sequence[str], extravars: Mapping[str, Any],
                 on_event: Any = None) -> dict[str, HostResult]:
        assert name == "apply"
        out = {}
        for host in hosts:
            plan = read(Path(extravars["berth_plans_dir"]) / f"{host}.json")
            keys = tuple(c.key for c in plan.plan.changes if c.action is not Action.NOOP)
            self.applied.append((host, keys, tuple(s.id for s in plan.plan.steps if s.run)))
            ok = not (self.fail and self.fail[0] == host and self.fail[1] in keys)
            if ok:
                self.done[host] |= set(keys)
            results = {"ok": ok, "elapsed": 1.0, "services": {"ceph": {"status": "succeeded"}}, "objects": []}
            out[host] = HostResult(host, "ok" if ok else "failed", stdout=json.dumps({"results": results}),
                                   stderr="" if ok else "error: ceph_mon did not become healthy", rc=0 if ok else 1)
        return out

    def replan(self, host: str) -> deploy.HostReport:
        plan = self.plans[host]
        changes = tuple(dataclasses.replace(c, action=Action.NOOP) if c.key in self.done[host] else c
                        for c in plan.plan.changes)
        return deploy.HostReport(host, "planned", plan=dataclasses.replace(
            plan, plan=dataclasses.replace(plan.plan, changes=changes)))


def _run(config: Config, monkeypatch: pytest.MonkeyPatch, services: set[str], fail: tuple[str, str] | None = None
         ) -> tuple[deploy.Run, Hosts]:
    plans = {h: upgraded(hostops.deploy(config, h, HostFacts(ActualState("unit"))), services) for h in HOSTS}
    hosts = Hosts(plans, fail)
    monkeypatch.setattr(deploy, "run_playbook", hosts)
    run = deploy.Run(config, Path("inventory"), operation="upgrade", replan=hosts.replan)
    run.waits = deploy.targets.waits_for(config, deploy.targets.services_by_host(config, None))
    for host, plan in plans.items():
        run.reports[host] = deploy.HostReport(host, "planned", plan=plan)
    deploy.apply_all(run, plans, serial=None)
    return run, hosts


def test_ceph_flags_its_three_daemons_in_the_order_ceph_asks_for() -> None:
    assert serial.flags_of(["mariadb", "ceph", "nova"]) == {"ceph": DAEMONS}
    assert [k for k, c in load_service("ceph").containers.items() if c.serial_across_hosts] == DAEMONS


def test_every_monitor_then_every_manager_then_every_osd_one_host_at_a_time(config: Config,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    run, hosts = _run(config, monkeypatch, {"ceph", "memcached"})
    parts = [(h, keys) for h, keys, _steps in hosts.applied[:9]]
    assert parts == [(h, (d,)) for d in DAEMONS for h in HOSTS]  # wave order: control01 founded the cluster
    # no step runs in a part but the service's backup: the first one on a host opens the upgrade's history entry,
    # the later ones (planned again) find it pending and go on with it
    assert [steps for _h, _k, steps in hosts.applied[:9]] == [("ceph/backup",)] * 9
    # then the rest, planned again: memcached, and the steps of the upgrade to finish on each host (pools-and-keys
    # once, on the first storage host; every host's history record)
    rest = {h: (keys, steps) for h, keys, steps in hosts.applied[9:]}
    assert list(rest) == HOSTS and rest["control01"][0] == ("memcached",)
    assert {h: "ceph/history" in steps for h, (_k, steps) in rest.items()} == dict.fromkeys(HOSTS, True)
    assert "ceph/pools-and-keys" in rest["control01"][1]
    assert not {k for keys, _s in rest.values() for k in keys} & set(DAEMONS)
    assert {r.status for r in run.reports.values()} == {"applied"}


def test_a_monitor_that_fails_stops_every_later_daemon_everywhere(config: Config,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    run, hosts = _run(config, monkeypatch, {"ceph"}, fail=("compute01", "ceph_mon"))
    assert [(h, keys) for h, keys, _s in hosts.applied] == [("control01", ("ceph_mon",)), ("compute01", ("ceph_mon",))]
    assert run.reports["compute01"].status == "failed"
    assert {run.reports[h].status for h in ("control01", "compute02")} == {"skipped"}
    assert "stopped at ceph_mon on compute01" in run.reports["compute02"].message


def test_a_first_deploy_creates_and_phases_nothing(config: Config) -> None:
    plans = {h: hostops.deploy(config, h, HostFacts(ActualState("unit"))) for h in HOSTS}
    assert serial.phases(HOSTS, plans, serial.flags_of(["ceph"])) == []
    restart = {h: upgraded(p, {"ceph"}) for h, p in plans.items()}
    assert [(p.key, p.hosts) for p in serial.phases(HOSTS, restart, {"ceph": DAEMONS})] == [
        (d, tuple(HOSTS)) for d in DAEMONS]


def test_a_part_holds_one_change_its_services_backup_and_only_the_images_to_fetch(config: Config) -> None:
    from berth.plan.model import ObjectChange

    plan = upgraded(hostops.deploy(config, "compute01", HostFacts(ActualState("unit"))), {"ceph", "nova"})
    objects = (ObjectChange("image", "r/berth/ceph:zed2", "pull"), ObjectChange("image", "old", "remove"))
    plan = dataclasses.replace(plan, plan=dataclasses.replace(plan.plan, objects=objects))
    part = serial.only(plan, "ceph_mgr")
    assert [(c.key, c.action) for c in part.plan.changes if c.action.changes] == [("ceph_mgr", Action.SWAP)]
    assert [s.id for s in part.plan.steps if s.run] == ["ceph/backup"]  # the history entry of the upgrade, only
    assert [o.action for o in part.plan.objects] == ["pull"]
