"""The read-only and host-preparing commands over many hosts: `logs`, `prechecks`, `bootstrap-host`.

Each runs one berth command per host through Ansible (`playbooks/command.yml`) with arguments the deployment host
decided for that host, and reads back what the command printed: a container's log lines, the host's checks, its
berth version and its bootstrap result. A host that cannot be reached is named; the others are reported.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from berth import __version__
from berth.config.loader import Config
from berth.errors import NotFoundError
from berth.lifecycle.hostchecks import needs_of
from berth.lifecycle.hostplans import host_plan
from berth.remote.ansible import HostResult, run_playbook
from berth.remote.deploy import failure
from berth.state.actual import ActualState


@dataclass
class HostAnswer:
    """One host's answer to a command: its parsed output, or why there is none."""

    host: str
    ok: bool
    message: str = ""
    data: Any = None
    details: list[str] = field(default_factory=list)


def run_on(inventory: Path, args: Mapping[str, str], extravars: Mapping[str, Any] | None = None
           ) -> dict[str, HostResult]:
    """`berth <args[host]>` on each host of `args` (one Ansible run, all hosts at once)."""
    return run_playbook("command", inventory, list(args), {**(extravars or {}), "berth_args": dict(args)})


def _quote(words: Sequence[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)


# --- logs ----------------------------------------------------------------------------------------------------------


def split_target(target: str, hosts: Sequence[str]) -> tuple[str, str]:
    """`HOST/CONTAINER` -> (host, container); a clear error naming the inventory's hosts otherwise."""
    host, sep, container = target.partition("/")
    if not sep or not host or not container:
        raise NotFoundError(f"`{target}`: over many hosts name the container as HOST/CONTAINER",
                            f"e.g. HOST/mariadb; hosts: {', '.join(hosts)}")
    if host not in hosts:
        raise NotFoundError(f"`{target}`: no host `{host}` in the inventory", f"hosts: {', '.join(hosts)}")
    return host, container


def logs_args(config: Config, container: str, tail: int | None) -> str:
    """`berth logs` on the host for this deployment, without configuration there (the deployment host masks)."""
    words = ["logs", "--deployment", config.globals.deployment_name]
    return _quote([*words, *(["--tail", str(tail)] if tail is not None else []), container])


def logs(config: Config, inventory: Path, host: str, container: str, tail: int | None) -> HostAnswer:
    result = run_on(inventory, {host: logs_args(config, container, tail)})[host]
    if not result.ok:
        report = failure(result, f"reading the log of {container}")
        return HostAnswer(host, False, report.message, details=report.details)
    return HostAnswer(host, True, data=result.stdout)


def central_logs_args(config: Config, host: str, since: datetime | None, grep: str | None,
                      hosts: Sequence[str], services: Sequence[str]) -> str:
    """`berth logs --all --json` on a monitoring host: its own log_dir (inventory variables may move it), the
    filters as given (a relative --since made absolute here, so both hosts mean the same moment)."""
    from berth.lifecycle.wiring import host_globals

    words = ["--json", "logs", "--all", "--deployment", config.globals.deployment_name,
             "--log-dir", host_globals(config, host).log_dir]
    words += ["--since", since.isoformat()] if since else []
    words += ["--grep", grep] if grep else []
    for name in hosts:
        words += ["--host", name]
    for name in services:
        words += ["--service", name]
    return _quote(words)


def central_logs(config: Config, inventory: Path, since: datetime | None, grep: str | None,
                 hosts: Sequence[str], services: Sequence[str]) -> HostAnswer:
    """The central logs from the first monitoring host that answers (each holds a full copy)."""
    from berth.lifecycle.wiring import container_hosts
    from berth.state.model import load_service

    collectors = container_hosts(config, load_service("central-logging"), "log_collector")
    if not collectors:
        raise NotFoundError("no host runs the log collector", "add a host to the inventory's `monitoring` group")
    answer = HostAnswer(collectors[0], False, "not tried")
    for host in collectors:
        result = run_on(inventory, {host: central_logs_args(config, host, since, grep, hosts, services)})[host]
        if result.ok:
            return HostAnswer(host, True, data=result.stdout)
        report = failure(result, "reading the central logs")
        answer = HostAnswer(host, False, report.message, details=report.details)
    return answer


# --- prechecks -----------------------------------------------------------------------------------------------------


def check_args(config: Config, host: str) -> str:
    """`berth check-host` with what this host's containers need (rendered here, against an empty host)."""
    desired = host_plan(config, host, ActualState(config.globals.deployment_name)).desired
    return _quote(["--json", "check-host", "--needs", needs_of(config, host, desired).dumps()])


def prechecks(config: Config, inventory: Path, hosts: Sequence[str]) -> dict[str, HostAnswer]:
    """Every host's checks (a failed check still prints them: the command exits 5 after printing)."""
    results = run_on(inventory, {h: check_args(config, h) for h in hosts})
    return {h: _checks(results[h]) for h in hosts}


def _checks(result: HostResult) -> HostAnswer:
    try:
        data = json.loads(result.stdout)
        checks = list(data["checks"])
    except (ValueError, KeyError, TypeError):
        report = failure(result, "checking it")
        return HostAnswer(result.host, False, report.message, details=report.details)
    bad = [c for c in checks if not c["ok"] and not c.get("warning")]
    message = "all checks passed" if not bad else f"{len(bad)} failed: {', '.join(c['name'] for c in bad)}"
    return HostAnswer(result.host, not bad, message, data=checks)


# --- bootstrap-host ------------------------------------------------------------------------------------------------


def versions(inventory: Path, hosts: Sequence[str]) -> dict[str, HostAnswer]:
    """Each host's berth version against this one's: plans and observations are exchanged only between equal
    versions, so a host with another berth is named before anything is installed on it."""
    results = run_on(inventory, {h: "--version" for h in hosts})
    out = {}
    for host in hosts:
        result = results[host]
        if not result.ok:
            report = failure(result, "asking its berth version")
            out[host] = HostAnswer(host, False, report.message, details=report.details + [
                "install berth on it (docs/multihost.md, `berth_command`)"])
            continue
        found = result.stdout.strip().rsplit(" ", 1)[-1]
        same = found == __version__
        out[host] = HostAnswer(host, same, f"berth {found}" + ("" if same else f", this host runs {__version__}"),
                               data=found, details=[] if same else [
                                   f"install berth {__version__} on {host} (the same version as the deployment host)"])
    return out


def bootstrap(inventory: Path, hosts: Sequence[str]) -> dict[str, HostAnswer]:
    """`berth bootstrap-host` on each host: the engine installed and started, berth's sysctls."""
    results = run_on(inventory, {h: "--json bootstrap-host" for h in hosts})
    out = {}
    for host in hosts:
        result = results[host]
        if not result.ok:
            report = failure(result, "bootstrapping it")
            out[host] = HostAnswer(host, False, report.message, details=report.details)
            continue
        try:
            steps = json.loads(result.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            steps = {}
        changed = [k for k, v in steps.items() if v == "succeeded"]
        out[host] = HostAnswer(host, True, f"ready ({'changed: ' + ', '.join(changed) if changed else 'nothing to do'})",
                               data=steps)
    return out
