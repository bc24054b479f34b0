"""The machine side of `berth lab`: the programs it needs, running commands, finding a host's processes.

Split from berth.remote.lab so each module stays readable; nothing here knows about up or down.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from berth.errors import HostError
from berth.host.bootstrap import install_packages
from berth.remote.labplan import LabError, LabHost
from berth.run.events import Status

Progress = Callable[[str], None]
# program -> the Debian package that provides it
PROGRAMS = {
    "sshd": "openssh-server", "ssh": "openssh-client", "ssh-keygen": "openssh-client", "ip": "iproute2",
    "nsenter": "util-linux", "unshare": "util-linux", "mount": "mount", "dockerd": "docker.io",
    "docker": "docker.io", "docker-init": "docker.io",
}
SYSTEM_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


# --- programs and packages ---------------------------------------------------------------------------------------


def running_berth() -> str:
    """The `berth` program of the running environment (lab hosts share the machine's filesystem, so it runs on
    them as is); plain `berth` when it cannot be found next to the interpreter."""
    program = Path(sys.executable).parent / "berth"
    return str(program) if program.is_file() else "berth"


def missing_programs() -> dict[str, str]:
    return {p: pkg for p, pkg in PROGRAMS.items() if shutil.which(p, path=SYSTEM_PATH) is None}


def ensure_programs(install: bool, progress: Progress) -> Status:
    """Install missing packages like `berth bootstrap-host` does, with service starts refused: the
    openssh-server package would otherwise start an sshd listening on every address of the machine."""
    absent = missing_programs()
    if not absent:
        return Status.CACHED
    packages = tuple(sorted(set(absent.values())))
    if not install:
        raise HostError(f"missing programs: {', '.join(sorted(absent))}",
                        f"install them: apt-get install {' '.join(packages)}")
    with _services_refused():
        install_packages(packages, progress)
    still = missing_programs()
    if still:
        raise HostError(f"still missing after install: {', '.join(sorted(still))}",
                        f"apt-get install {' '.join(sorted(set(still.values())))}")
    return Status.SUCCEEDED


@contextlib.contextmanager
def _services_refused() -> Iterator[None]:
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\n# written by berth lab up while installing packages\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)


def init_program() -> str:
    for name in ("docker-init", "tini"):
        found = shutil.which(name, path=SYSTEM_PATH)
        if found:
            return found
    raise HostError("neither docker-init nor tini is installed", "apt-get install docker.io")


# --- running commands --------------------------------------------------------------------------------------------


def run(cmd: list[str], what: str = "", check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout,
                          env={**os.environ, "PATH": SYSTEM_PATH})
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise LabError(f"{what or ' '.join(cmd)} failed (exit {proc.returncode})", None, details=tail)
    return proc


def run_all(commands: list[list[str]], what: str) -> None:
    for cmd in commands:
        run(cmd, f"{what}: {' '.join(cmd)}")


# --- a host's namespaces and processes ---------------------------------------------------------------------------


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def host_processes(host: LabHost) -> list[int]:
    """The host's `unshare` and init processes (both carry its boot script path on their command line)."""
    needle = str(host.boot_script)
    return [pid for pid in pids() if needle in cmdline(pid)]


def is_init(pid: int, host: LabHost) -> bool:
    args = cmdline(pid)
    return bool(args) and Path(args[0]).name in ("docker-init", "tini") and str(host.boot_script) in args


def init_pid(host: LabHost) -> int | None:
    """The host's init, if alive: the pid file, checked against the process's command line (pids get reused)."""
    try:
        pid = int(host.pid_file.read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if pid and is_init(pid, host):
        return pid
    found = [p for p in host_processes(host) if is_init(p, host)]
    return found[0] if found else None


def parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[1])


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
