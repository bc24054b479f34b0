"""Pure decisions of upgrade, rollback and reconfigure: step order, images, container actions, filtered plans."""

from __future__ import annotations

import pytest

from berth.lifecycle.maintenance import reconfigure_plan
from berth.lifecycle.rollback import decide
from berth.lifecycle.rollback import plan_lines as rollback_lines
from berth.lifecycle.upgrade import dependency_order, images_needed, step_order, upgrade_action
from berth.plan.model import Action, ContainerChange, Operation, Plan, StepChange
from berth.state.actual import ActualContainer, ActualState
from berth.state.desired import DesiredContainer, DesiredState, DesiredStep, ServiceUnit
from berth.state.history import Backup, ContainerRecord, Entry


def step(name: str, phase: str = "before", service: str = "keystone") -> DesiredStep:
    return DesiredStep(service=service, name=name, kind="oneshot", host="localhost", phase=phase)


def desired(upgrade: tuple[DesiredStep, ...] = (), replaces: tuple[str, ...] = ()) -> DesiredState:
    steps = (step("key-setup"), step("db-sync"), step("bootstrap"), step("register", "after"))
    units = (ServiceUnit("mariadb", "localhost"), ServiceUnit("keystone", "localhost", ("mariadb",)),
             ServiceUnit("glance", "localhost", ("keystone", "mariadb")))
    containers = (DesiredContainer("keystone", "keystone", "keystone", "localhost", "berth/keystone:new", None,
                                   spec={"image": "berth/keystone:new"}),
                  DesiredContainer("mariadb", "mariadb", "mariadb", "localhost", "berth/mariadb:new", "sha256:m",
                                   spec={"image": "berth/mariadb:new"}))
    return DesiredState("berth", units, containers, steps, frozenset(), upgrade,
                        {"keystone": replaces} if upgrade else {})


ALL_DUE = {"keystone/key-setup", "keystone/db-sync", "keystone/bootstrap", "keystone/register"}


def test_without_upgrade_steps_the_due_deploy_steps_run():
    before, after = step_order(desired(), ALL_DUE, "keystone")
    assert [s.name for s in before] == ["key-setup", "db-sync", "bootstrap"]
    assert [s.name for s in after] == ["register"]
    before, _ = step_order(desired(), {"keystone/db-sync"}, "keystone")
    assert [s.name for s in before] == ["db-sync"]


def test_upgrade_steps_take_the_place_of_the_steps_they_replace():
    extra = (step("db-expand"), step("db-migrate"), step("db-contract", "after"))
    before, after = step_order(desired(extra, ("db-sync",)), ALL_DUE, "keystone")
    assert [s.name for s in before] == ["key-setup", "db-expand", "db-migrate", "bootstrap"]
    assert [s.name for s in after] == ["db-contract", "register"]


def test_upgrade_steps_run_even_when_no_deploy_step_is_due():
    extra = (step("db-expand"), step("db-contract", "after"))
    before, after = step_order(desired(extra, ("db-sync",)), set(), "keystone")
    assert [s.name for s in before] == ["db-expand"] and [s.name for s in after] == ["db-contract"]


def test_services_upgrade_in_dependency_order():
    assert dependency_order(desired(), ["glance", "keystone", "mariadb"]) == ["mariadb", "keystone", "glance"]
    assert dependency_order(desired(), ["glance", "mariadb"]) == ["mariadb", "glance"]


def test_missing_images_are_pulled_from_a_registry_else_built():
    d = desired()
    assert [(n.kind, n.ident, n.action) for n in images_needed(d, ["keystone", "mariadb"], "", False)] == \
        [("image", "keystone", "build")]  # mariadb's image is present
    assert images_needed(d, ["keystone"], "127.0.0.1:4000", False)[0].action == "pull"
    assert images_needed(d, ["keystone"], "127.0.0.1:4000", True)[0].action == "build"


def _record(image_id: str, spec_hash: str = "s", config_hash: str = "c") -> ContainerRecord:
    return ContainerRecord(key="keystone", name="keystone", image="berth/keystone:zed", image_id=image_id,
                           config_hash=config_hash, spec_hash=spec_hash)


def _entries(changed: bool) -> list[Entry]:
    return [Entry(1, 1.0, "keystone", "deploy", (_record("sha256:old"),)),
            Entry(2, 2.0, "keystone", "upgrade", (_record("sha256:new", "s2", "c2"),),
                  backups=(Backup("keystone", "/b/2.sql.gz", 2.0),), schema_changed=changed)]


def _actual(image_id: str, spec_hash: str, config_hash: str, state: str = "running") -> ActualState:
    return ActualState("berth", (ActualContainer("id1", "keystone", "keystone", "keystone", image_id=image_id,
                                                 spec_hash=spec_hash, config_hash=config_hash, state=state),))


def test_rollback_without_schema_change_is_a_container_swap():
    plan = decide(_entries(False), _actual("sha256:new", "s2", "c2"), {"sha256:old"}, "keystone", None)
    assert plan.operation is Operation.ROLLBACK and not plan.blockers
    assert [(c.action, c.image_id) for c in plan.changes] == [(Action.SWAP, "sha256:old")]
    assert "image new -> old" in plan.changes[0].reasons[0]
    assert [(s.kind, s.run, s.payload["target"]) for s in plan.steps] == [("record", True, 1)]


def test_rollback_over_a_schema_change_restores_that_upgrades_backup():
    plan = decide(_entries(True), _actual("sha256:new", "s2", "c2"), {"sha256:old"}, "keystone", None, True,
                  ("127.0.0.1:11211",))
    assert [(s.kind, s.run) for s in plan.steps] == [("restore", True), ("flush", True), ("record", True)]
    assert plan.steps[0].payload["backups"][0]["path"] == "/b/2.sql.gz" and not plan.blockers
    refused = decide(_entries(True), _actual("sha256:new", "s2", "c2"), {"sha256:old"}, "keystone", None)
    assert [b.message for b in refused.blockers] == [
        "the database schema of keystone changed since entry 1: the old version cannot run on it"]
    assert "  refused without --restore-database" in rollback_lines(refused)


def test_rollback_to_what_runs_is_a_noop_and_missing_images_are_named():
    plan = decide(_entries(False), _actual("sha256:old", "s", "c"), set(), "keystone", 1)
    assert [c.action for c in plan.changes] == [Action.NOOP] and not plan.has_changes
    assert plan.blockers[0].missing and "sha256:old" in plan.blockers[0].message
    stopped = decide(_entries(False), _actual("sha256:old", "s", "c", "exited"), {"sha256:old"}, "keystone", 1)
    assert [c.action for c in stopped.changes] == [Action.SWAP]


def test_a_killed_rollback_is_finished_with_the_container_it_set_aside() -> None:
    aside = ActualContainer("id0", "keystone--aside", "keystone", "keystone", image_id="sha256:new", spec_hash="s2",
                            config_hash="c2", state="exited")
    before_create = ActualState("berth", (aside,))
    plan = decide(_entries(False), before_create, {"sha256:old"}, "keystone", 1)
    assert [(c.action, c.reasons) for c in plan.changes] == [
        (Action.SWAP, ("an interrupted swap left the old container aside",))]  # renamed back, then swapped
    new = _actual("sha256:old", "s", "c").containers[0]
    after_create = ActualState("berth", (aside, new))
    plan = decide(_entries(False), after_create, {"sha256:old"}, "keystone", 1)
    assert [c.action for c in plan.changes] == [Action.FINISH]  # the new one checked, the old one removed
    assert [(s.kind, s.run) for s in plan.steps] == [("record", True)]


def _change(key: str, action: Action, reason: str) -> ContainerChange:
    return ContainerChange("localhost", key, key, key, action, (reason,))


def test_reconfigure_keeps_only_config_and_definition_changes():
    plan = Plan("berth", ("a",), (
        _change("conf", Action.RESTART, "config changed: keystone.conf"),
        _change("sick", Action.RESTART, "health check failing"),
        _change("img", Action.RECREATE, "image changed: aaa -> bbb"),
        _change("defn", Action.RECREATE, "definition changed: environment"),
        _change("same", Action.NOOP, "up to date"),
        _change("gone", Action.REMOVE, "one-shot container left over"),
    ), (StepChange("localhost", "a", "db-sync", "oneshot", True, "changed"),))
    out = reconfigure_plan(plan)
    assert {c.key: c.action for c in out.changes} == {"conf": Action.RESTART, "sick": Action.NOOP,
                                                       "img": Action.NOOP, "defn": Action.RECREATE,
                                                       "same": Action.NOOP}
    assert not any(s.run for s in out.steps)
    assert "berth upgrade" in next(c for c in out.changes if c.key == "img").reasons[0]


def test_reconfigure_with_nothing_changed_has_no_changes():
    plan = Plan("berth", ("a",), (_change("same", Action.NOOP, "up to date"),))
    assert not reconfigure_plan(plan).has_changes


def test_reconfigure_keeps_a_follower_only_when_its_leader_stays():
    import dataclasses

    follow = dataclasses.replace(_change("compute", Action.RESTART, "libvirt will restart: it restarts with it"),
                                 follows=("libvirt",))
    kept = reconfigure_plan(Plan("berth", ("a",), (_change("libvirt", Action.RESTART, "config changed: x.conf"),
                                                   follow)))
    assert {c.key: c.action for c in kept.changes} == {"libvirt": Action.RESTART, "compute": Action.RESTART}
    dropped = reconfigure_plan(Plan("berth", ("a",), (_change("libvirt", Action.RECREATE, "image changed: a -> b"),
                                                      follow)))
    assert {c.key: c.action for c in dropped.changes} == {"libvirt": Action.NOOP, "compute": Action.NOOP}


@pytest.mark.parametrize("action,aside,expected", [
    (Action.RECREATE, False, Action.SWAP), (Action.RESTART, False, Action.SWAP), (Action.CREATE, False, Action.CREATE),
    (Action.CREATE, True, Action.SWAP), (Action.START, False, Action.FINISH), (Action.NOOP, True, Action.FINISH),
    (Action.NOOP, False, Action.NOOP), (Action.REMOVE, False, Action.REMOVE),
])
def test_upgrade_swaps_every_change_and_finishes_interrupted_swaps(action, aside, expected):
    change = _change("keystone", action, "why")
    assert upgrade_action(change, {"keystone"} if aside else set()).action is expected
