"""`berth status`'s rows and its lines about containers that were down or restarted: pure functions of the
observed state and the engine's inspect."""

from __future__ import annotations

import dataclasses

from berth.engine.base import ContainerInfo
from berth.lifecycle.status import Row, incidents, rows_of
from berth.plan.hostplan import HostPlan
from berth.plan.model import Action, ContainerChange, Plan
from berth.state.actual import ActualContainer, ActualState
from berth.state.desired import DesiredState

ROW = Row("memcached", "memcached", "d-memcached", "running", "healthy", "berth/memcached:epoxy", "abc", "Up 1 hour",
          "")


def row(**changes: object) -> Row:
    return dataclasses.replace(ROW, **changes)  # type: ignore[arg-type]


def test_a_container_that_runs_and_never_restarted_is_no_incident() -> None:
    assert incidents([ROW, row(stopped_at="2026-12-02T12:00:00Z")]) == []  # stopped and started by berth: quiet


def test_a_container_restarted_by_the_engine_says_how_often_and_when() -> None:
    [line] = incidents([row(restarts=2, stopped_at="2026-12-02T12:21:19.30Z", started_at="2026-12-02T12:21:20Z")])
    assert line == ("d-memcached: restarted by the engine 2 time(s) after its process ended "
                    "(last at 2026-12-02 12:21:19 UTC); running again since 2026-12-02 12:21:20 UTC")


def test_a_container_that_is_down_names_its_exit_and_what_starts_it() -> None:
    killed = row(state="exited", last_exit=137, stopped_at="2026-12-02T12:30:00.5Z")
    failed = row(name="d-keystone", state="exited", last_exit=1)
    missing = row(name="d-rabbitmq", state="missing")
    assert incidents([killed, failed, missing]) == [
        "d-memcached: exited (exit 137, killed (SIGKILL) at 2026-12-02 12:30:00 UTC); `berth deploy` starts it",
        "d-keystone: exited (exit 1); `berth deploy` starts it",
        "d-rabbitmq: missing; `berth deploy` creates it",
    ]


def plan_of(*containers: ActualContainer) -> HostPlan:
    changes = tuple(ContainerChange("localhost", c.service, c.key, c.name, Action.NOOP, (), container_id=c.id)
                    for c in containers)
    return HostPlan("d", "localhost", "/tmp/d", DesiredState("d"), ActualState("d", containers),
                    Plan("d", ("memcached",), changes))


def test_rows_carry_restarts_and_last_exit_from_the_inspect() -> None:
    up = ActualContainer("1", "d-memcached", "memcached", "memcached")
    down = ActualContainer("2", "d-keystone", "keystone", "keystone", state="exited")
    inspected = {"1": ContainerInfo("1", "d-memcached", state="running", restart_count=1, exit_code=0,
                                    finished_at="t1", started_at="t2"),
                 "2": ContainerInfo("2", "d-keystone", state="exited", exit_code=137, finished_at="t3")}
    first, second = rows_of(plan_of(up, down), inspected)
    assert (first.restarts, first.last_exit, first.stopped_at, first.started_at) == (1, None, "t1", "t2")
    assert (second.restarts, second.last_exit, second.stopped_at) == (0, 137, "t3")
    plain = rows_of(plan_of(up))[0]  # many hosts: no inspect, the listing's facts only
    assert (plain.restarts, plain.last_exit) == (0, None)
