"""`berth bootstrap-host`: make this host able to build and run berth's containers. Idempotent.

Each step first checks whether there is anything to do, so a second run changes nothing and is fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from berth.errors import HostError
from berth.host.osinfo import read_os_info, require_root, require_supported, systemd_running
from berth.run.events import Status
from berth.run.scheduler import Task

PACKAGES = ("docker.io", "debootstrap", "python3", "python3-venv", "iproute2", "iptables", "bridge-utils")
DOCKER_SOCKET = Path("/var/run/docker.sock")
DAEMON_JSON = Path("/etc/docker/daemon.json")
# Bounded engine logs: a cloud left running for days must not fill the disk with container logs.
DAEMON_DEFAULTS = {"log-driver": "json-file", "log-opts": {"max-size": "50m", "max-file": "3"}}
SYSCTL_FILE = Path("/etc/sysctl.d/90-berth.conf")
# ip_forward: VMs reach the router namespaces; nonlocal_bind: services may bind addresses before they exist
# (VIPs); max_dgram_qlen: oslo.log syslog and libvirt's sockets under load.
SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.ip_nonlocal_bind": "1",
    "net.ipv6.ip_nonlocal_bind": "1",
    "net.unix.max_dgram_qlen": "128",
}
ENGINE_WAIT_S = 60.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BootstrapOptions:
    dockerd_log: Path = Path("/var/log/berth/dockerd.log")
    engine_wait_s: float = ENGINE_WAIT_S


def bootstrap_tasks(options: BootstrapOptions) -> list[Task]:
    """The steps as a chain for the scheduler, so progress is shown like every other long run."""
    steps: list[tuple[str, Callable[[Progress], Status]]] = [
        ("check-host", lambda p: _check_host(p)),
        ("packages", lambda p: install_packages(PACKAGES, p)),
        ("engine-config", lambda p: write_daemon_json(DAEMON_JSON, p)),
        ("engine", lambda p: start_engine(options, p)),
        ("sysctl", lambda p: apply_sysctls(SYSCTLS, SYSCTL_FILE, p)),
    ]
    tasks, previous = [], frozenset[str]()
    for key, fn in steps:
        tasks.append(Task(key, fn, previous))
        previous = frozenset({key})
    return tasks


def _check_host(progress: Progress) -> Status:
    require_root()
    info = read_os_info()
    require_supported(info)
    progress(info.pretty_name)
    return Status.CACHED


def missing_packages(names: tuple[str, ...]) -> list[str]:
    """Packages not installed, by dpkg's own record (fast; no apt lists needed)."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *names],
        capture_output=True, text=True, check=False,
    ).stdout
    installed = {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}
    return [n for n in names if n not in installed]


def install_packages(names: tuple[str, ...], progress: Progress) -> Status:
    missing = missing_packages(names)
    if not missing:
        return Status.CACHED
    progress(f"installing {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-q"], env, "apt-get update")
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env, "apt-get install")
    return Status.SUCCEEDED


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-10:]
        raise HostError(f"{what} failed (exit {proc.returncode})",
                        "check the host's apt sources and network access to the Debian mirror", details=tail)


def write_daemon_json(path: Path, progress: Progress) -> Status:
    """Add berth's defaults to the engine's config without overriding anything the operator set."""
    current = json.loads(path.read_text()) if path.exists() and path.read_text().strip() else {}
    merged = {**DAEMON_DEFAULTS, **current}
    if merged == current:
        return Status.CACHED
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2) + "\n")
    progress(f"wrote {path}")
    return Status.SUCCEEDED


def engine_answers() -> bool:
    try:
        from berth.engine import connect

        connect(timeout=5).close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False


def start_engine(options: BootstrapOptions, progress: Progress) -> Status:
    """Through systemd where it runs, else start dockerd ourselves and wait for its socket."""
    if engine_answers():
        return Status.CACHED
    if systemd_running():
        progress("systemctl enable --now docker")
        _run(["systemctl", "enable", "--now", "docker"], dict(os.environ), "systemctl start docker")
    else:
        _spawn_dockerd(options.dockerd_log, progress)
    deadline = time.monotonic() + options.engine_wait_s
    while time.monotonic() < deadline:
        if engine_answers():
            return Status.SUCCEEDED
        time.sleep(0.5)
    tail = options.dockerd_log.read_text().splitlines()[-10:] if options.dockerd_log.exists() else []
    raise HostError(f"the Docker engine did not answer within {options.engine_wait_s:.0f}s",
                    f"see {options.dockerd_log}", details=tail)


def _spawn_dockerd(log_path: Path, progress: Progress) -> None:
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise HostError("dockerd is not installed", "install the docker.io package (berth bootstrap-host does)")
    if DOCKER_SOCKET.exists():
        DOCKER_SOCKET.unlink()  # a stale socket from a killed engine makes dockerd refuse to start
    log_path.parent.mkdir(parents=True, exist_ok=True)
    progress(f"starting dockerd (log: {log_path})")
    with open(log_path, "ab") as log:
        subprocess.Popen([dockerd], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)


def apply_sysctls(values: dict[str, str], path: Path, progress: Progress) -> Status:
    """Persist in sysctl.d and apply now; a read-only /proc/sys (inside a container) is a warning, not a failure."""
    wanted = "".join(f"{k} = {v}\n" for k, v in sorted(values.items()))
    changed = not path.exists() or path.read_text() != wanted
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted)
    stale = [k for k, v in values.items() if _read_sysctl(k) != v]
    for key in stale:
        try:
            Path("/proc/sys", *key.split(".")).write_text(values[key])
        except OSError as exc:
            progress(f"warning: cannot set {key}: {exc.strerror}")
    return Status.SUCCEEDED if (changed or stale) else Status.CACHED


def _read_sysctl(key: str) -> str | None:
    try:
        return Path("/proc/sys", *key.split(".")).read_text().strip()
    except OSError:
        return None
