"""Which HAProxy servers a host's plan drains, the batches that follows, and the runtime API's answers. Pure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berth.errors import DeployError
from berth.lifecycle.hostplans import host_plan
from berth.plan.model import Action
from berth.remote import rolling
from berth.run import haproxy_api
from berth.run.haproxy_api import parse_stat
from berth.state.actual import ActualState
from tests.unit.services.test_loadbalancer import ha_config

STAT = """\
# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight
keystone_api,FRONTEND,,,3,5,4000,9,0,0,0,0,0,,,,,OPEN,
keystone_api,ctl1,0,0,2,3,,7,0,0,,0,,0,0,0,0,UP,1
keystone_api,ctl2,0,0,0,1,,2,0,0,,0,,0,0,0,0,DRAIN,1
keystone_api,BACKEND,0,0,2,5,400,9,0,0,0,0,,0,0,0,0,UP,2
"""


def test_show_stat_gives_each_server_its_state_and_sessions() -> None:
    rows = parse_stat(STAT)
    assert [(r.id, r.status, r.sessions) for r in rows] == [("keystone_api/ctl1", "UP", 2),
                                                           ("keystone_api/ctl2", "DRAIN", 0)]
    with pytest.raises(DeployError, match="without its CSV header"):
        parse_stat("Unknown command\n")


def changed(plan: Any, services: set[str], action: Action) -> Any:
    """The plan with the containers of `services` given `action` (the others unchanged)."""
    changes = tuple(c.__class__(**{**c.__dict__, "action": action if c.service in services else Action.NOOP})
                    for c in plan.plan.changes)
    return plan.__class__(**{**plan.__dict__, "plan": plan.plan.__class__(**{**plan.plan.__dict__,
                                                                            "changes": changes})})


def test_a_replaced_api_is_drained_on_its_host_only(tmp_path: Path) -> None:
    config = ha_config(tmp_path)
    plan = host_plan(config, "ctl2", ActualState(deployment="unit"))
    assert rolling.servers_to_drain(config, "ctl2", plan) == []  # a first deploy creates: nothing to drain
    swapped = changed(plan, {"keystone", "nova"}, Action.SWAP)
    assert rolling.servers_to_drain(config, "ctl2", swapped) == [
        "keystone_api/ctl2", "nova_api/ctl2", "nova_metadata/ctl2", "nova_novncproxy/ctl2"]
    assert rolling.balancer_hosts(config) == ["ctl1", "ctl2", "ctl3"]


def test_drained_hosts_go_alone_and_first() -> None:
    drains = {"ctl1": ["keystone_api/ctl1"], "ctl3": ["keystone_api/ctl3"]}
    assert rolling.batches(["ctl1", "ctl2", "ctl3", "cmp1"], drains, None) == [["ctl1"], ["ctl3"], ["ctl2", "cmp1"]]
    assert rolling.batches(["cmp1", "cmp2", "cmp3"], {}, 2) == [["cmp1", "cmp2"], ["cmp3"]]


def test_every_balancer_is_told_and_the_ones_that_fail_are_named(tmp_path: Path) -> None:
    config = ha_config(tmp_path)
    asked: dict[str, str] = {}

    class Result:
        def __init__(self, ok: bool) -> None:
            self.ok = ok

    def run_on(args: dict[str, str]) -> dict[str, Result]:
        asked.update(args)
        return {h: Result(h != "ctl3") for h in args}

    failed = rolling.set_state(config, run_on, "drain", ["keystone_api/ctl2"], lambda h: h != "ctl1")
    assert failed == ["ctl3"] and set(asked) == {"ctl2", "ctl3"}
    assert asked["ctl2"] == "--json loadbalancer drain --port 1985 --wait 20.0 keystone_api/ctl2"


def test_returned_servers_are_waited_for_until_their_checks_pass(tmp_path: Path) -> None:
    assert rolling.arguments(ha_config(tmp_path), "ready", ["keystone_api/ctl2"]) == \
        "--json loadbalancer ready --port 1985 --wait 60.0 keystone_api/ctl2"


def test_wait_up_returns_once_every_server_is_up_and_names_those_that_never_are(monkeypatch: Any) -> None:
    looks = iter(["DOWN", "DOWN 1/2", "UP"])  # ctl2 passes its rise checks on the third look
    monkeypatch.setattr(haproxy_api, "servers", lambda port: parse_stat(STAT.replace("DRAIN", next(looks))))
    monkeypatch.setattr(haproxy_api.time, "sleep", lambda s: None)
    assert haproxy_api.wait_up(1985, ["keystone_api/ctl1", "keystone_api/ctl2"], 30) == []
    assert next(looks, None) is None
    monkeypatch.setattr(haproxy_api, "servers", lambda port: parse_stat(STAT.replace("DRAIN", "DOWN")))
    assert haproxy_api.wait_up(1985, ["keystone_api/ctl2"], 0) == ["keystone_api/ctl2"]
