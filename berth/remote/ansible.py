"""Ansible as berth's transport to many hosts: run one of berth's playbooks with ansible-runner, get per-host results.

berth does not fan out over SSH itself: Ansible connects (the operator's inventory, keys, ssh options, become),
runs one short command per host (`berth observe`, `berth apply-plan`) and copies plan files. Everything berth
decides happens on the deployment host, and everything it applies happens in berth's own code on each host.

Secrets: a host's observed state and its plan hold rendered configuration files. ansible-runner works in a
private temporary directory (mode 0700) removed after the run, and the event handler keeps events off its disk.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.errors import RemoteError

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
TAIL = 12  # lines of a failed command's output carried into the report

# What berth sets for every run; an operator's ansible.cfg keeps everything else (users, keys, become, proxies).
ANSIBLE_ENV = {
    "ANSIBLE_PIPELINING": "True",  # one SSH round trip per task instead of three (no file transfer of the module)
    "ANSIBLE_RETRY_FILES_ENABLED": "False",
    "ANSIBLE_DEPRECATION_WARNINGS": "False",
    "ANSIBLE_NOCOLOR": "True",
    "ANSIBLE_SSH_RETRIES": "0",  # a host that does not answer is reported at once; the next run retries it
    # ansible-runner drops a task's whole result (its stdout too) when it is longer than 700,000 characters:
    # `berth logs` of a busy container or `logs --all` through Ansible can be longer
    "MAX_EVENT_RES": str(256 * 2**20),
}
# A host lost while an SSH connection master (ControlPersist) to it is open would leave the next command waiting on
# a dead TCP connection for minutes: keep-alives end it within 9 s and the host is reported unreachable.
# Set only when the operator's environment does not (an inventory's ansible_ssh_extra_args still wins).
KEEPALIVE = {"ANSIBLE_SSH_EXTRA_ARGS": "-o ServerAliveInterval=3 -o ServerAliveCountMax=3"}

Handler = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class HostResult:
    """What one host did in one playbook run: its last task's outcome and output."""

    host: str
    status: str  # ok | failed | unreachable
    task: str = ""
    stdout: str = ""
    stderr: str = ""
    rc: int | None = None
    message: str = ""
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def tail(self, lines: int = TAIL) -> list[str]:
        """The last lines that explain a failure: stderr, else stdout, else Ansible's message."""
        for text in (self.stderr, self.stdout, self.message):
            if text and text.strip():
                return text.strip().splitlines()[-lines:]
        return []

    def summary(self) -> str:
        """One line naming what failed: `unreachable: <ssh error>` or `task apply failed (exit 7): <last line>`."""
        if self.status == "unreachable":
            return f"unreachable: {_first_line(self.message) or 'no answer'}"
        if self.status == "failed":
            exit_text = f" (exit {self.rc})" if self.rc is not None else ""
            last = self.tail(1)
            return f"task {self.task or '?'} failed{exit_text}" + (f": {last[0]}" if last else "")
        return "ok"


@dataclass
class _Collector:
    """Per host, the last task result seen (a failed or unreachable host runs no further task)."""

    on_event: Handler | None = None
    results: dict[str, HostResult] = field(default_factory=dict)

    def __call__(self, event: Mapping[str, Any]) -> bool:
        result = result_of(event)
        previous = self.results.get(result.host) if result is not None else None
        if result is not None and (previous is None or previous.ok):
            self.results[result.host] = result
        if self.on_event is not None:
            self.on_event(event)
        return False  # keep the event (and the output it carries) off ansible-runner's disk


STATUS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable"}


def result_of(event: Mapping[str, Any]) -> HostResult | None:
    """A HostResult from one ansible-runner event (None: not a task result)."""
    status = STATUS.get(str(event.get("event", "")))
    data = event.get("event_data") or {}
    host = data.get("host")
    if status is None or not host:
        return None
    res = data.get("res") or {}
    if status == "failed" and data.get("ignore_errors"):
        status = "ok"
    rc = res.get("rc")
    return HostResult(host=str(host), status=status, task=str(data.get("task", "")), stdout=str(res.get("stdout", "")),
                      stderr=str(res.get("stderr", "")), rc=int(rc) if isinstance(rc, int) else None,
                      message=str(res.get("msg", "")), elapsed=float(data.get("duration") or 0.0))


def missing(results: Mapping[str, HostResult], hosts: Iterable[str], stdout_tail: list[str]) -> dict[str, HostResult]:
    """Every asked-for host gets a result: one Ansible said nothing about failed with the run's own output."""
    out = dict(results)
    for host in hosts:
        if host not in out:
            message = "\n".join(stdout_tail) or "Ansible reported nothing for this host"
            out[host] = HostResult(host, "failed", message=message)
    return out


def playbook_path(name: str) -> Path:
    path = PLAYBOOKS / f"{name}.yml"
    if not path.is_file():
        raise RemoteError(f"berth's playbook {name}.yml is missing from {PLAYBOOKS}", "reinstall berth")
    return path


def runner_env() -> dict[str, str]:
    """berth's Ansible settings, with the programs of berth's own environment first on PATH."""
    bindir = str(Path(sys.executable).parent)
    keepalive = {k: v for k, v in KEEPALIVE.items() if k not in os.environ}
    return {**ANSIBLE_ENV, **keepalive, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_playbook(name: str, inventory: Path, hosts: Sequence[str], extravars: Mapping[str, Any],
                 on_event: Handler | None = None) -> dict[str, HostResult]:
    """Run berth's playbook `name` on `hosts` of `inventory`; a result per host (never raises for a host)."""
    runner = _ansible_runner()
    collector = _Collector(on_event)
    with tempfile.TemporaryDirectory(prefix="berth-ansible-") as private:
        done = runner.run(private_data_dir=private, playbook=str(playbook_path(name)),
                          inventory=str(inventory.resolve()), limit=",".join(hosts), extravars=dict(extravars),
                          envvars=runner_env(), forks=max(1, len(hosts)), quiet=True, event_handler=collector,
                          settings={"suppress_ansible_output": True})
        output = _tail(done.stdout.read() if done.stdout else "")
    if done.status not in ("successful", "failed"):
        raise RemoteError(f"ansible-runner ended `{done.status}` running {name}.yml on {', '.join(hosts)}",
                          "the lines above are Ansible's; check the inventory with `ansible-inventory -i "
                          f"{inventory} --graph`", details=output)
    return missing(collector.results, hosts, output)


def _tail(text: str) -> list[str]:
    return [line for line in text.strip().splitlines() if line.strip()][-TAIL:]


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _ansible_runner() -> Any:
    try:
        import ansible_runner
    except ImportError:
        raise RemoteError("ansible-runner is not installed: berth reaches other hosts through Ansible",
                          "pip install 'berth[multinode]' (ansible-core and ansible-runner)") from None
    return ansible_runner
