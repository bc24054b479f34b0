"""Planner cases as data: actual + desired -> expected action and reasons. Pure: no engine, no files."""

from __future__ import annotations

import dataclasses

import pytest

from berth.plan.model import Action
from berth.plan.planner import make_plan
from berth.state.actual import ActualContainer, ActualState
from berth.state.desired import DesiredContainer, DesiredState, DesiredStep, ServiceUnit, step_stamp

SPEC = {"command": None, "environment": {"A": "1"}, "volumes": ["x:/x"], "cap_add": []}
FILES = {"keystone.conf": "[DEFAULT]\ndebug = false\npassword = s3cr3tvalue\n", "config.json": "{}"}
SECRETS = frozenset({"s3cr3tvalue", "other-secret"})


def want(key: str = "keystone", service: str = "keystone", image_id: str | None = "sha256:aaa", spec=None,
         files=None) -> DesiredContainer:
    return DesiredContainer(key=key, service=service, name=key, host="localhost", image=f"berth/{key}:zed",
                            image_id=image_id, spec=dict(SPEC if spec is None else spec),
                            files=dict(FILES if files is None else files))


def have_for(w: DesiredContainer, **changes) -> ActualContainer:
    """The container a previous deploy of `w` left, with `changes` applied."""
    base = ActualContainer(id=f"id-{w.key}", name=w.name, key=w.key, service=w.service, image_id=w.image_id or "",
                           spec_hash=w.spec_hash, config_hash=w.config_hash, spec=dict(w.spec), state="running",
                           health="healthy", files=dict(w.files))
    return dataclasses.replace(base, **changes)


def state(*containers: DesiredContainer, steps=()) -> DesiredState:
    services = sorted({c.service for c in containers} | {s.service for s in steps})
    return DesiredState("berth", tuple(ServiceUnit(s, "localhost") for s in services), tuple(containers),
                        tuple(steps), SECRETS)


def actual(*containers: ActualContainer, volumes=None, stamps=None) -> ActualState:
    return ActualState("berth", tuple(containers), {}, volumes or {}, stamps or {})


W = want()
OTHER_SPEC = {**SPEC, "environment": {"A": "2"}}
OTHER_FILES = {**FILES, "keystone.conf": FILES["keystone.conf"].replace("false", "true")}

# (case id, desired container, actual containers, expected action, expected reason fragments)
CASES = [
    ("missing -> create", W, [], Action.CREATE, ["does not exist"]),
    ("missing image -> create and pull", want(image_id=None), [], Action.CREATE, ["will be pulled"]),
    ("identical -> noop", W, [have_for(W)], Action.NOOP, []),
    ("identical, no health check -> noop", W, [have_for(W, health=None)], Action.NOOP, []),
    ("still starting -> noop", W, [have_for(W, health="starting")], Action.NOOP, []),
    ("exited -> start", W, [have_for(W, state="exited")], Action.START, ["is exited"]),
    ("created only -> start", W, [have_for(W, state="created")], Action.START, ["is created"]),
    ("dead -> start", W, [have_for(W, state="dead")], Action.START, ["is dead"]),
    ("unhealthy -> restart", W, [have_for(W, health="unhealthy")], Action.RESTART, ["health check failing"]),
    ("new image -> recreate", W, [have_for(W, image_id="sha256:old", spec_hash="x")], Action.RECREATE,
     ["image changed: old -> aaa"]),
    ("env changed -> recreate", want(spec=OTHER_SPEC), [have_for(W)], Action.RECREATE,
     ["definition changed: environment"]),
    ("volume added -> recreate", want(spec={**SPEC, "volumes": ["x:/x", "y:/y"]}), [have_for(W)], Action.RECREATE,
     ["definition changed: volumes"]),
    ("field added -> recreate", want(spec={**SPEC, "init": True}), [have_for(W)], Action.RECREATE,
     ["definition changed: init"]),
    ("old label without spec -> recreate", want(spec=OTHER_SPEC), [have_for(W, spec={})], Action.RECREATE,
     ["definition changed"]),
    ("config file changed -> restart", want(files=OTHER_FILES), [have_for(W)], Action.RESTART,
     ["config changed: keystone.conf"]),
    ("config file added -> restart", want(files={**FILES, "extra.ini": "x"}), [have_for(W)], Action.RESTART,
     ["config changed: extra.ini"]),
    ("config file removed -> restart", want(files={"config.json": "{}"}), [have_for(W)], Action.RESTART,
     ["config changed: keystone.conf"]),
    ("config changed while stopped -> restart", want(files=OTHER_FILES), [have_for(W, state="exited")],
     Action.RESTART, ["config changed"]),
    ("config and image changed -> recreate", want(image_id="sha256:bbb", files=OTHER_FILES), [have_for(W)],
     Action.RECREATE, ["image changed"]),
    ("image changed while stopped -> recreate", want(image_id="sha256:bbb"), [have_for(W, state="exited")],
     Action.RECREATE, ["image changed"]),
    ("only aside copy left -> create", W, [have_for(W, name="keystone--aside")], Action.CREATE,
     ["does not exist", "left the previous container aside"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_container_action(case):
    _, desired, containers, expected, fragments = case
    plan = make_plan(state(desired), actual(*containers))
    change = plan.change(desired.key)
    assert change is not None
    assert change.action is expected
    text = " | ".join(change.reasons)
    for fragment in fragments:
        assert fragment in text
    assert (not fragments) == (not change.reasons)


LEFTOVER_CASES = [
    ("aside copy is removed", have_for(W, id="x", name="keystone--aside"), None, "kept aside"),
    ("one-shot remains are removed", have_for(W, id="x", name="keystone--db-sync", role="oneshot"), None, "one-shot"),
    ("container no longer defined", have_for(want(key="keystone_old"), id="x"), None, "no longer defined"),
    ("disabled service in a full deploy", have_for(want(key="glance", service="glance"), id="x"), None,
     "no longer defined"),
    ("disabled service outside a partial deploy stays", have_for(want(key="glance", service="glance"), id="x"),
     ["keystone"], None),
]


@pytest.mark.parametrize("case", LEFTOVER_CASES, ids=[c[0] for c in LEFTOVER_CASES])
def test_leftovers(case):
    _, extra, services, reason = case
    plan = make_plan(state(W), actual(have_for(W), extra), services)
    removes = [c for c in plan.changes if c.action is Action.REMOVE]
    if reason is None:
        assert removes == []
    else:
        assert [c.container_id for c in removes] == ["x"]
        assert reason in removes[0].reasons[0]


def test_partial_plan_leaves_other_services_out():
    mariadb = want(key="mariadb", service="mariadb")
    plan = make_plan(state(W, mariadb), actual(), ["keystone"])
    assert [c.key for c in plan.changes] == ["keystone"]
    assert plan.services == ("keystone",)


def test_noop_plan_has_no_changes():
    plan = make_plan(state(W), actual(have_for(W)))
    assert not plan.has_changes
    assert plan.counts() == {"noop": 1}


def test_secrets_are_masked_in_file_diffs_and_fields():
    files = {**FILES, "keystone.conf": FILES["keystone.conf"] + "other = other-secret\n"}
    spec = {**SPEC, "environment": {"PW": "s3cr3tvalue"}}
    plan = make_plan(state(want(spec=spec, files=files)), actual(have_for(W)))
    text = repr(plan.to_dict())
    assert "s3cr3tvalue" not in text and "other-secret" not in text
    assert "********" in text


def test_plan_is_json_serialisable():
    import json

    plan = make_plan(state(want(files=OTHER_FILES)), actual(have_for(W)))
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["changes"][0]["action"] == "restart"
    assert "debug = true" in data["changes"][0]["files"][0]["diff"]


STEP = DesiredStep(service="keystone", name="db-sync", kind="oneshot", host="localhost", base="b1",
                   stamp_volumes=("berth_mariadb",))
VOLS = {"berth_mariadb": "2024-01-01T00:00:00Z"}
DONE = {STEP.id: step_stamp(STEP, VOLS)}

STEP_CASES = [
    ("never ran", STEP, VOLS, {}, True, "has not run"),
    ("volume will be created", STEP, {}, {}, True, "will be created"),
    ("volume recreated since", STEP, {"berth_mariadb": "2025-01-01"}, DONE, True, "changed"),
    ("definition changed", dataclasses.replace(STEP, base="b2"), VOLS, DONE, True, "changed"),
    ("done", STEP, VOLS, DONE, False, "already done"),
    ("no volumes, done", dataclasses.replace(STEP, stamp_volumes=()), {},
     {STEP.id: step_stamp(dataclasses.replace(STEP, stamp_volumes=()), {})}, False, "already done"),
]


@pytest.mark.parametrize("case", STEP_CASES, ids=[c[0] for c in STEP_CASES])
def test_step_decision(case):
    _, step, volumes, stamps, run, reason = case
    plan = make_plan(state(W, steps=[step]), actual(have_for(W), volumes=volumes, stamps=stamps))
    assert plan.steps[0].run is run
    assert reason in plan.steps[0].reason
    assert plan.has_changes is run


@pytest.mark.parametrize(("libvirt_change", "compute_action"), [
    ({}, Action.NOOP),
    ({"state": "exited"}, Action.RESTART),  # libvirt starts again: compute restarts with it
    ({"config_hash": "old"}, Action.RESTART),
    ({"spec_hash": "old"}, Action.RESTART),
])
def test_restart_with_follows_the_leader(libvirt_change, compute_action):
    libvirt = want("nova_libvirt", "nova")
    compute = dataclasses.replace(want("nova_compute", "nova"), restart_with=("nova_libvirt",))
    plan = make_plan(state(libvirt, compute), actual(have_for(libvirt, **libvirt_change), have_for(compute)))
    change = {c.key: c for c in plan.changes}["nova_compute"]
    assert change.action is compute_action
    if compute_action is Action.RESTART:
        assert change.reasons[0].startswith("nova_libvirt will ")


def test_restart_with_must_name_an_earlier_container(tmp_path):
    from berth.errors import ConfigError
    from berth.state.model import parse_service

    (tmp_path / "templates").mkdir()
    (tmp_path / "service.yml").write_text(
        "containers:\n"
        "  a: {image: x, restart_with: [b]}\n"
        "  b: {image: x}\n")
    with pytest.raises(ConfigError) as caught:
        parse_service(tmp_path / "service.yml")
    assert any("restart_with names `b`" in d for d in caught.value.details)
