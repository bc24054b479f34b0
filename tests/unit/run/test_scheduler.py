"""The DAG scheduler: order, parallelism limit, failure propagation, cycles."""

from __future__ import annotations

import threading
import time

import pytest

from berth.errors import BerthError
from berth.run.events import EventKind, Status
from berth.run.scheduler import Task, check_graph, reverse_graph, run_graph


def recorder(order: list[str], status: Status | None = None, sleep: float = 0.0):
    def run(progress):
        time.sleep(sleep)
        order.append(threading.current_thread().name)
        return status
    return run


def test_dependencies_run_first():
    done: list[str] = []
    mk = lambda k: (lambda p: done.append(k))
    tasks = [Task("keystone", mk("keystone"), frozenset({"mariadb"})), Task("mariadb", mk("mariadb")),
             Task("glance", mk("glance"), frozenset({"keystone", "mariadb"}))]
    result = run_graph(tasks, max_workers=4)
    assert result.ok
    assert done == ["mariadb", "keystone", "glance"]


def test_failure_skips_dependents_transitively_and_independent_work_continues():
    def boom(progress):
        raise BerthError("apt failed")

    ran: list[str] = []
    tasks = [Task("base", boom), Task("child", lambda p: ran.append("child"), frozenset({"base"})),
             Task("grandchild", lambda p: ran.append("gc"), frozenset({"child"})),
             Task("other", lambda p: ran.append("other"))]
    result = run_graph(tasks, max_workers=2)
    assert not result.ok
    assert result.outcomes["base"].status is Status.FAILED
    assert result.outcomes["base"].message == "apt failed"
    assert result.outcomes["child"].status is Status.SKIPPED
    assert "base failed" in result.outcomes["child"].message
    assert result.outcomes["grandchild"].status is Status.SKIPPED
    assert ran == ["other"]


def test_unexpected_exception_is_a_failure_not_a_crash():
    result = run_graph([Task("x", lambda p: 1 / 0)], max_workers=1)
    assert result.outcomes["x"].status is Status.FAILED
    assert "ZeroDivisionError" in result.outcomes["x"].message


def test_concurrency_limit_is_respected():
    active, peak, lock = [0], [0], threading.Lock()

    def work(progress):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1

    run_graph([Task(str(i), work) for i in range(8)], max_workers=3)
    assert peak[0] == 3


def test_independent_tasks_overlap_in_time():
    start = time.monotonic()
    run_graph([Task(str(i), lambda p: time.sleep(0.2)) for i in range(4)], max_workers=4)
    assert time.monotonic() - start < 0.6


def test_cached_status_counts_as_ok_for_dependents():
    result = run_graph([Task("a", lambda p: Status.CACHED), Task("b", lambda p: None, frozenset({"a"}))],
                       max_workers=1)
    assert result.outcomes["a"].status is Status.CACHED
    assert result.outcomes["b"].status is Status.SUCCEEDED


def test_events_in_order_with_progress():
    events = []
    run_graph([Task("a", lambda p: p("step 1/2"))], max_workers=1, on_event=events.append)
    assert [e.kind for e in events] == [EventKind.STARTED, EventKind.PROGRESS, EventKind.FINISHED]
    assert events[1].message == "step 1/2"


@pytest.mark.parametrize("tasks, message", [
    ([Task("a", lambda p: None, frozenset({"b"})), Task("b", lambda p: None, frozenset({"a"}))], "cycle: a -> b -> a"),
    ([Task("a", lambda p: None, frozenset({"zz"}))], "a depends on unknown zz"),
])
def test_bad_graphs_are_refused_before_running(tasks, message):
    with pytest.raises(BerthError, match=message):
        check_graph(tasks)


def test_reverse_graph_runs_dependents_first():
    done: list[str] = []
    tasks = [Task("mariadb", lambda p: done.append("mariadb")),
             Task("keystone", lambda p: done.append("keystone"), frozenset({"mariadb"}))]
    run_graph(reverse_graph(tasks), max_workers=2)
    assert done == ["keystone", "mariadb"]


def test_heaviest_ready_task_starts_first():
    """With one worker, the root of the long chain runs before an independent leaf, whatever the names."""
    done: list[str] = []
    mk = lambda k: (lambda p: done.append(k))
    tasks = [Task("aaa-leaf", mk("aaa-leaf")), Task("zzz-root", mk("zzz-root")),
             Task("mid", mk("mid"), frozenset({"zzz-root"})), Task("end", mk("end"), frozenset({"mid"}))]
    run_graph(tasks, max_workers=1)
    assert done[0] == "zzz-root"


def test_downstream_weight_prefers_depth_then_count():
    from berth.run.scheduler import downstream_weight

    noop = lambda p: None
    tasks = [Task("base", noop), Task("a", noop, frozenset({"base"})), Task("b", noop, frozenset({"base"})),
             Task("chain1", noop), Task("chain2", noop, frozenset({"chain1"})), Task("chain3", noop, frozenset({"chain2"}))]
    w = downstream_weight(tasks)
    assert w["chain1"] > w["base"] > w["a"] == w["b"]
