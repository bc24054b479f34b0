"""Every changing command over many hosts: observe every host, plan every host here, apply wave by wave.

`berth -i INVENTORY deploy | reconfigure | upgrade | rollback | stop | destroy | pull` all run this way:

1. gather: `berth observe --json` on every targeted host through Ansible (read-only; `--facts` adds history, pins,
   image ids, networks and host objects for the commands that plan from them);
2. plan: the deployment host plans each host against what it observed there with the command's per-host planner
   (`berth.lifecycle.hostops`), the same one the all-in-one uses; nothing on a host renders or reads configuration;
3. apply: each host's plan file is copied to it (mode 0600) and applied there by `berth apply-plan`, in waves
   (`berth.remote.targets`: a host after the hosts where the services it needs are bootstrapped; reversed for
   stop and destroy: dependents first), each wave in batches of `--serial` hosts.

A host that cannot be reached or whose apply fails is reported with its error; hosts that do not need it go on,
hosts waiting for it are skipped (and say so). Running the command again finishes the job: hosts already done
plan nothing and are not touched.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.config.loader import Config
from berth.errors import BerthError
from berth.lifecycle.hostplans import host_plan, summary
from berth.plan.codec import DecodeError, from_data
from berth.plan.hostplan import HostPlan, write
from berth.remote import rolling, targets
from berth.remote import serial as across
from berth.remote.ansible import TAIL, HostResult, run_playbook
from berth.state.facts import HostFacts
from berth.state.observe import OBSERVATION_VERSION

OK_STATES = ("planned", "unchanged", "deployed", "applied")
Progress = Callable[[str, str, str], None]  # host, phase (observe | plan | wait | apply | done), text
Planner = Callable[[str, HostFacts], HostPlan]  # host, its facts -> its plan (berth.lifecycle.hostops)
# what a host's report says it did, per operation (deploy keeps `deployed`)
DONE = {"deploy": "deployed", "reconfigure": "reconfigured", "upgrade": "upgraded", "rollback": "rolled back",
        "stop": "stopped", "destroy": "destroyed", "pull": "pulled"}


@dataclass
class HostReport:
    """One host's part of a many-hosts deploy, for the terminal and for --json."""

    host: str
    status: str  # planned | unchanged | deployed (deploy) | applied (other commands) | failed | unreachable | skipped
    message: str = ""
    details: list[str] = field(default_factory=list)
    plan: HostPlan | None = None
    results: dict[str, Any] | None = None  # what `berth apply-plan --json` reported on the host
    wave: int = 0
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in OK_STATES

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "status": self.status, "message": self.message, "details": self.details,
                "wave": self.wave, "elapsed": round(self.elapsed, 2),
                "plan": summary(self.plan) if self.plan is not None else None, "results": self.results}


@dataclass
class Run:
    """One many-hosts command: the configuration, the inventory file Ansible reads, how each host is planned, and
    what was decided so far. Without a planner it is a deploy of `services`."""

    config: Config
    inventory: Path
    services: Collection[str] | None = None
    progress: Progress | None = None
    operation: str = "deploy"
    planner: Planner | None = None
    facts: bool = False  # observe history, pins, image ids, networks, host objects too (`berth observe --facts`)
    reverse: bool = False  # hosts in reverse wave order (stop, destroy: dependents first)
    # a host observed and planned again (after a serial phase changed it); None: observe through Ansible and plan
    replan: Callable[[str], HostReport] | None = None
    reports: dict[str, HostReport] = field(default_factory=dict)
    waits: dict[str, set[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def tell(self, host: str, phase: str, text: str) -> None:
        if self.progress is not None:
            self.progress(host, phase, text)

    def extravars(self) -> dict[str, Any]:
        """What the playbooks need besides the inventory: no secret goes through Ansible's variables."""
        globals_ = self.config.globals
        return {"berth_deployment": globals_.deployment_name, "berth_deployment_dir": str(self.config.deployment_dir),
                "berth_state_dir": str(globals_.state_dir), "berth_observe_args": "--facts" if self.facts else ""}

    def plan_host(self, host: str, facts: HostFacts) -> HostPlan:
        if self.planner is not None:
            return self.planner(host, facts)
        return host_plan(self.config, host, facts.actual, self.services)


def targeted_hosts(config: Config, services: Collection[str] | None, limit: str | None) -> list[str]:
    """The inventory hosts that run something of the deployment, narrowed by `--limit`, in the order of their
    waves (the order they are applied in, and shown in)."""
    running = targets.services_by_host(config, services)
    chosen = targets.select(config, list(running), limit)
    waits = targets.waits_for(config, running)
    return [host for wave in targets.waves(chosen, waits) for host in wave]


def plan_all(run: Run, hosts: Sequence[str]) -> dict[str, HostPlan]:
    """Observe every host through Ansible, then plan each one that answered (the others are reported)."""
    run.waits = targets.waits_for(run.config, targets.services_by_host(run.config, run.services))
    for host in hosts:
        run.tell(host, "observe", "observing")
    return _observe_and_plan(run, hosts)


def _observe_and_plan(run: Run, hosts: Sequence[str]) -> dict[str, HostPlan]:
    started = time.monotonic()
    results = run_playbook("observe", run.inventory, hosts, run.extravars())
    run.timings["observe"] = run.timings.get("observe", 0.0) + time.monotonic() - started
    started = time.monotonic()
    plans = {}
    for host in hosts:
        facts = observation(results[host], run.config.globals.deployment_name)
        report = facts if isinstance(facts, HostReport) else _planned(run, host, facts)
        run.reports[host] = report
        if report.plan is not None and report.ok:
            plans[host] = report.plan
        run.tell(host, "plan" if report.ok else "done", report.message)
    run.timings["plan"] = run.timings.get("plan", 0.0) + time.monotonic() - started
    return plans


def _replan(run: Run, host: str) -> HostReport:
    """The host observed and planned again (its report replaced)."""
    if run.replan is not None:
        run.reports[host] = run.replan(host)
    else:
        _observe_and_plan(run, [host])
    return run.reports[host]


def _planned(run: Run, host: str, facts: HostFacts) -> HostReport:
    """The host's plan, or why it has none (its history has no entry to return to, images are gone, ...)."""
    try:
        plan = run.plan_host(host, facts)
    except BerthError as exc:
        return HostReport(host, "failed", f"cannot be planned: {exc.message}", details=[exc.hint] if exc.hint else [])
    if plan.plan.blockers:
        first = plan.plan.blockers[0]
        return HostReport(host, "failed", f"cannot be applied: {first.message}", details=[first.hint], plan=plan)
    status = "planned" if plan.plan.has_changes else "unchanged"
    return HostReport(host, status, describe(plan), plan=plan)


def describe(plan: HostPlan) -> str:
    counts = plan.plan.counts()
    steps = sum(1 for s in plan.plan.steps if s.run)
    objects = sum(1 for o in plan.plan.objects if o.changes)
    changed = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()) if a != "noop")
    text = f"{changed or 'no container changes'}; {steps} step(s) to run"
    return text + (f"; {objects} object(s) to {_object_verbs(plan)}" if objects else "")


def _object_verbs(plan: HostPlan) -> str:
    return "/".join(sorted({o.action for o in plan.plan.objects if o.changes}))


def observation(result: HostResult, deployment: str) -> HostFacts | HostReport:
    """The HostFacts a host's `berth observe --json` printed (its ActualState, and with `--facts` the rest), or a
    report saying why there are none."""
    if not result.ok:
        return failure(result, "observing it")
    try:
        data = json.loads(result.stdout)
        if data.get("version") != OBSERVATION_VERSION:
            raise DecodeError(f"observation version {data.get('version')!r}, expected {OBSERVATION_VERSION}")
        facts = from_data(HostFacts, {"actual": data["actual"], **(data.get("extra") or {})})
        actual = facts.actual
    except (ValueError, KeyError, AttributeError, TypeError, DecodeError) as exc:
        message = exc.message if isinstance(exc, DecodeError) else str(exc)
        return HostReport(result.host, "failed", f"its `berth observe` printed no observed state: {message}",
                          details=result.tail(3) + ["install the same berth version on every host"])
    if actual.deployment != deployment:
        return HostReport(result.host, "failed", f"it observed deployment {actual.deployment!r}, not {deployment!r}")
    return facts


def failure(result: HostResult, doing: str) -> HostReport:
    """A failed or unreachable host's report: berth's error line from the host (else what Ansible said) and the
    lines that explain it (berth's details under its error line: the failed container's last log lines)."""
    if result.status == "unreachable":
        return HostReport(result.host, "unreachable", f"unreachable while {doing}: "
                          f"{_connection_error(result.message)}", elapsed=result.elapsed)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    at = next((n for n, line in enumerate(lines) if line.startswith("error: ")), None)
    if at is None:
        return HostReport(result.host, "failed", f"failed while {doing}: {result.summary()}", details=result.tail(),
                          elapsed=result.elapsed)
    details = [line.strip() for line in lines[at + 1:] if not line.startswith("hint: ")][-TAIL:]
    return HostReport(result.host, "failed", f"failed while {doing}: {lines[at][len('error: '):]}", details=details,
                      elapsed=result.elapsed)


def _connection_error(message: str) -> str:
    """The ssh client's own words (`ssh: connect to host ADDRESS port 22: Connection timed out`) from Ansible's
    longer message, else its first line."""
    text = message.strip()
    start = text.rfind("ssh: ")
    return (text[start:] if start >= 0 else text).splitlines()[0] if text else "no answer"


def apply_all(run: Run, plans: Mapping[str, HostPlan], serial: int | None, in_waves: bool = True) -> None:
    """Apply the plans that change something, wave by wave (reversed for stop and destroy); hosts waiting for a
    failed host are skipped. Without waves every host at once (pulling images: nothing depends on the order)."""
    pending = [h for h, p in plans.items() if p.plan.has_changes]
    with tempfile.TemporaryDirectory(prefix="berth-plans-") as folder:
        if in_waves and run.operation in across.OPERATIONS:
            plans, pending = _apply_serial(run, plans, pending, Path(folder))
        for host in pending:
            write(plans[host], Path(folder) / f"{host}.json")
        waves = targets.waves(pending, run.waits) if in_waves else [pending]
        if run.reverse:
            waves.reverse()
        drains = {h: rolling.servers_to_drain(run.config, h, plans[h]) for h in pending} if in_waves else {}
        for number, wave in enumerate(waves, start=1):
            for batch in rolling.batches(wave, drains, serial):
                servers = [s for h in batch for s in drains.get(h, [])]
                _set_balancers(run, batch, "drain", servers)
                _apply_batch(run, batch, number, Path(folder))
                _set_balancers(run, batch, "ready", servers)


def _apply_serial(run: Run, plans: Mapping[str, HostPlan], pending: list[str], folder: Path
                  ) -> tuple[dict[str, HostPlan], list[str]]:
    """The flagged containers one host at a time across the hosts (berth.remote.serial), before the waves; then
    the hosts that took part planned again for the rest. A failed part stops every later one: the hosts still
    holding a flagged change are skipped (running the command again goes on from there)."""
    order = [h for wave in targets.waves(pending, run.waits) for h in wave]
    current = {h: plans[h] for h in pending}
    todo = across.phases(order, current, across.flags_of(across.services_of(current)))
    if not todo:
        return dict(plans), pending
    touched: list[str] = []
    failed: str | None = None
    for phase in todo:
        for host in phase.hosts:
            plan = current.get(host)
            if failed or plan is None or across.serial_change(plan, phase.key) is None:
                continue
            run.tell(host, "apply", f"{phase.key}: alone across the hosts (serial_across_hosts)")
            started = time.monotonic()
            write(across.only(plan, phase.key), folder / f"{host}.json")
            result = run_playbook("apply", run.inventory, [host], {**run.extravars(), "berth_plans_dir": str(folder)})
            run.timings[f"serial {phase.key}"] = run.timings.get(f"serial {phase.key}", 0.0) + \
                time.monotonic() - started
            report = applied(result[host], plan, run.operation)
            if not report.ok:
                run.reports[host] = report
                run.tell(host, "done", report.message)
                failed = f"{phase.key} on {host}"
                current.pop(host)
                continue
            touched.append(host)
            again = _replan(run, host)
            if again.ok and again.plan is not None:
                current[host] = again.plan
            else:
                current.pop(host)
    for host in list(current):
        if failed and any(across.serial_change(current[host], p.key) for p in todo):
            run.reports[host] = HostReport(host, "skipped", f"not applied: the change one host at a time stopped at "
                                                            f"{failed}", plan=current[host])
            run.tell(host, "done", run.reports[host].message)
            current.pop(host)
    for host in dict.fromkeys(touched):
        if host in current and not current[host].plan.has_changes:
            status = "deployed" if run.operation == "deploy" else "applied"
            run.reports[host] = HostReport(host, status, "applied one container at a time", plan=current[host])
            current.pop(host)
    merged = {**plans, **current}
    return merged, [h for h in pending if h in current]


def _set_balancers(run: Run, batch: list[str], state: str, servers: list[str]) -> None:
    """Take the batch's servers out of every HAProxy (`drain`) or return them (`ready`); a balancer that cannot
    be told keeps checking them itself, which is said and not fatal."""
    if not servers:
        return
    for host in batch:
        run.tell(host, "apply", f"{'draining' if state == 'drain' else 'returning'} {len(servers)} server(s) "
                                f"in HAProxy")
    started = time.monotonic()

    def reachable(host: str) -> bool:
        report = run.reports.get(host)
        return report is None or report.status != "unreachable"

    def run_on(args: Mapping[str, str]) -> Mapping[str, Any]:
        return run_playbook("command", run.inventory, list(args), {**run.extravars(), "berth_args": dict(args)})

    failed = rolling.set_state(run.config, run_on, state, servers, reachable)
    run.timings[f"haproxy {state}"] = run.timings.get(f"haproxy {state}", 0.0) + time.monotonic() - started
    for host in batch:
        if failed:
            run.tell(host, "apply", f"HAProxy on {', '.join(failed)} did not take `{state}`: its health checks "
                                    "decide alone there")


def _apply_batch(run: Run, batch: list[str], wave: int, folder: Path) -> None:
    ready = [h for h in batch if run.reverse or not _skip_if_blocked(run, h, wave)]
    if not ready:
        return
    for host in ready:
        run.tell(host, "apply", f"applying (wave {wave})")
    started = time.monotonic()
    results = run_playbook("apply", run.inventory, ready, {**run.extravars(), "berth_plans_dir": str(folder)})
    run.timings[f"apply wave {wave}"] = run.timings.get(f"apply wave {wave}", 0.0) + time.monotonic() - started
    for host in ready:
        report = applied(results[host], run.reports[host].plan, run.operation)
        report.wave = wave
        run.reports[host] = report
        run.tell(host, "done", report.message)


def _skip_if_blocked(run: Run, host: str, wave: int) -> bool:
    """Skip a host that waits for one that failed (its services would start against nothing)."""
    blocked = sorted(h for h in run.waits.get(host, set()) if h in run.reports and not run.reports[h].ok)
    if not blocked:
        return False
    run.reports[host] = HostReport(host, "skipped", f"not applied: it waits for {', '.join(blocked)}, which failed",
                                   plan=run.reports[host].plan, wave=wave)
    run.tell(host, "done", run.reports[host].message)
    return True


def applied(result: HostResult, plan: HostPlan | None, operation: str = "deploy") -> HostReport:
    """A host's report from its apply task: the services' results `berth apply-plan --json` printed."""
    results = _results(result.stdout)
    status = "deployed" if operation == "deploy" else "applied"
    if not result.ok:
        report = failure(result, "applying its plan")
        report.plan, report.results = plan, results
        return report
    if results is None:
        return HostReport(result.host, status, "applied (its berth printed no results)", plan=plan,
                          details=result.tail(3), elapsed=result.elapsed)
    services = results.get("services", {})
    changed = [k for k, v in services.items() if v.get("status") == "succeeded"]
    objects = list(results.get("objects") or [])
    elapsed = float(results.get("elapsed", result.elapsed))
    done = [*changed, f"{len(objects)} object(s)"] if objects else changed
    message = f"{DONE.get(operation, 'applied')} {', '.join(done)}" if done else "unchanged"
    return HostReport(result.host, status if done else "unchanged", f"{message} in {elapsed:.1f}s", plan=plan,
                      results=results, elapsed=elapsed)


def _results(stdout: str) -> dict[str, Any] | None:
    try:
        data = json.loads(stdout)
    except ValueError:
        return None
    return data.get("results") if isinstance(data, dict) else None


def items(reports: Sequence[HostReport]) -> list[dict[str, Any]]:
    """One row per host and service applied, each naming its host (the flat view --json gives scripts)."""
    rows = []
    for report in reports:
        for service, result in ((report.results or {}).get("services") or {}).items():
            rows.append({"host": report.host, "service": service, "status": result.get("status"),
                         "message": result.get("message", ""), "elapsed": result.get("elapsed", 0.0)})
    return rows
