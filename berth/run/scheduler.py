"""One generic parallel scheduler over a dependency graph.

Used by image builds (parent before children) and deploys (mariadb before keystone before glance).
Ready-set scheduling with a concurrency limit; a failed node marks every dependent SKIPPED and says
which dependency failed; `reverse_graph` turns the edges around for stop/destroy.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from berth.errors import BerthError
from berth.run.events import Event, EventKind, Status

EventSink = Callable[[Event], None]


@dataclass(frozen=True)
class Task:
    """A unit of work. `run` gets a progress callback; it returns CACHED/SUCCEEDED or raises."""

    key: str
    run: Callable[[Callable[[str], None]], Status | None]
    deps: frozenset[str] = frozenset()
    label: str = ""


@dataclass
class Outcome:
    key: str
    status: Status = Status.PENDING
    message: str = ""
    started: float = 0.0
    elapsed: float = 0.0
    error: BaseException | None = None


@dataclass
class RunResult:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return all(o.status.ok for o in self.outcomes.values())

    def with_status(self, *statuses: Status) -> list[Outcome]:
        return [o for o in self.outcomes.values() if o.status in statuses]


def check_graph(tasks: Iterable[Task]) -> None:
    """Refuse unknown dependencies and cycles before anything runs."""
    by_key = {t.key: t for t in tasks}
    for task in by_key.values():
        missing = sorted(set(task.deps) - set(by_key))
        if missing:
            raise BerthError(f"{task.key} depends on unknown {', '.join(missing)}", "this is a bug in the graph")
    state: dict[str, int] = {}

    def visit(key: str, path: list[str]) -> None:
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            cycle = path[path.index(key):] + [key]
            raise BerthError(f"dependency cycle: {' -> '.join(cycle)}", "remove one of these dependencies")
        state[key] = 1
        for dep in sorted(by_key[key].deps):
            visit(dep, path + [key])
        state[key] = 2

    for key in sorted(by_key):
        visit(key, [])


def reverse_graph(tasks: Iterable[Task]) -> list[Task]:
    """The same tasks with edges reversed: dependents first (stop keystone before mariadb)."""
    items = list(tasks)
    dependents: dict[str, set[str]] = {t.key: set() for t in items}
    for task in items:
        for dep in task.deps:
            dependents.setdefault(dep, set()).add(task.key)
    return [Task(t.key, t.run, frozenset(dependents[t.key]), t.label) for t in items]


def downstream_weight(tasks: Iterable[Task]) -> dict[str, int]:
    """Per task: the length of the longest chain of dependents below it, plus their count as a tie-break.

    Starting the heaviest ready task first keeps the critical path busy (a cold image build starts
    openstack-base before leaf images like haproxy).
    """
    items = {t.key: t for t in tasks}
    children: dict[str, set[str]] = {k: set() for k in items}
    for task in items.values():
        for dep in task.deps:
            children[dep].add(task.key)
    depth: dict[str, int] = {}
    below: dict[str, set[str]] = {}

    def visit(key: str) -> None:
        if key in depth:
            return
        for child in children[key]:
            visit(child)
        depth[key] = 1 + max((depth[c] for c in children[key]), default=0)
        below[key] = set().union(*(below[c] | {c} for c in children[key])) if children[key] else set()

    for key in items:
        visit(key)
    return {k: depth[k] * 10_000 + len(below[k]) for k in items}


def run_graph(tasks: Iterable[Task], *, max_workers: int, on_event: EventSink | None = None) -> RunResult:
    """Run tasks in dependency order, at most `max_workers` at once; never raises for task failures."""
    items = list(tasks)
    check_graph(items)
    runner = _GraphRun({t.key: t for t in items}, max(1, max_workers), on_event or (lambda _e: None))
    return runner.run()


class _GraphRun:
    def __init__(self, tasks: Mapping[str, Task], workers: int, sink: EventSink) -> None:
        self.tasks = tasks
        self.workers = workers
        self.sink = sink
        self.lock = threading.Lock()
        self.result = RunResult({k: Outcome(k) for k in tasks})
        self.rank = downstream_weight(tasks.values())

    def emit(self, event: Event) -> None:
        with self.lock:
            self.sink(event)

    def run(self) -> RunResult:
        start = time.monotonic()
        running: dict[Future[Status | None], str] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="berth") as pool:
            while True:
                self._skip_blocked()
                for key in self._ready(set(running.values())):
                    if len(running) >= self.workers:
                        break
                    running[pool.submit(self._execute, key)] = key
                if not running:
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    running.pop(fut)
        self.result.elapsed = time.monotonic() - start
        return self.result

    def _ready(self, running: set[str]) -> list[str]:
        out = []
        for key, task in self.tasks.items():
            outcome = self.result.outcomes[key]
            if outcome.status is not Status.PENDING or key in running:
                continue
            if all(self.result.outcomes[d].status.ok for d in task.deps):
                out.append(key)
        # the longest chain first: openstack-base before a leaf image, mariadb before memcached
        return sorted(out, key=lambda k: (-self.rank[k], k))

    def _skip_blocked(self) -> None:
        """Mark tasks whose dependency failed or was skipped, transitively, in one pass per loop."""
        changed = True
        while changed:
            changed = False
            for key, task in self.tasks.items():
                outcome = self.result.outcomes[key]
                if outcome.status is not Status.PENDING:
                    continue
                bad = sorted(d for d in task.deps if self.result.outcomes[d].status in (Status.FAILED, Status.SKIPPED))
                if bad:
                    outcome.status = Status.SKIPPED
                    outcome.message = f"not run: {', '.join(bad)} failed"
                    self.emit(Event(EventKind.FINISHED, key, Status.SKIPPED, outcome.message))
                    changed = True

    def _execute(self, key: str) -> Status | None:
        task = self.tasks[key]
        outcome = self.result.outcomes[key]
        outcome.started = time.monotonic()
        outcome.status = Status.RUNNING
        self.emit(Event(EventKind.STARTED, key, Status.RUNNING, task.label))

        def progress(line: str) -> None:
            self.emit(Event(EventKind.PROGRESS, key, Status.RUNNING, line, time.monotonic() - outcome.started))

        try:
            status = task.run(progress) or Status.SUCCEEDED
            message = ""
        except BerthError as exc:
            status, message, outcome.error = Status.FAILED, exc.message, exc
        except Exception as exc:  # noqa: BLE001 - a task failure must not stop the other branches
            status, message, outcome.error = Status.FAILED, f"{type(exc).__name__}: {exc}", exc
            progress(traceback.format_exc().rstrip().splitlines()[-1])
        outcome.elapsed = time.monotonic() - outcome.started
        outcome.message = message
        self.emit(Event(EventKind.FINISHED, key, status, message, outcome.elapsed))
        outcome.status = status  # last, so dependents are released only after the event is out
        return status
