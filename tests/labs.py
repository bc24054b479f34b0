"""What tests need of `berth lab` hosts from the machine's side: their engines, their processes, their traces."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from berth.remote.labplan import LabHost


def docker_on(host: LabHost, *args: str, timeout: float = 60) -> str:
    """`docker` against the host's own engine (its socket for the machine), stdout; fails loudly."""
    proc = subprocess.run(["docker", "-H", f"unix://{host.docker_socket}", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"docker {' '.join(args)} on {host.name}: {proc.stderr[-2000:]}"
    return proc.stdout


def running_on(host: LabHost) -> set[str]:
    return set(docker_on(host, "ps", "--filter", "status=running", "--format", "{{.Names}}").split())


def pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def processes_of(host: LabHost) -> dict[int, str]:
    """pid -> command line of every process in the host's PID namespace (seen from the machine)."""
    init = int(host.pid_file.read_text().split()[0])
    wanted = pid_namespace(init)
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and pid_namespace(int(entry.name)) == wanted:
            try:
                out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
    return out


def kill_engine(host: LabHost) -> list[int]:
    """SIGKILL the host's dockerd (its containerd and containers stay, as when an engine crashes)."""
    killed = [pid for pid, cmd in processes_of(host).items() if cmd.startswith("dockerd ")]
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    return killed


def traces(name: str) -> list[str]:
    """Everything of lab `name` the machine could still hold: namespaces, links, mounts, processes, cgroups, state."""
    found = [f"netns {n}" for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                                   check=True).stdout.split() if n.startswith(f"berth-lab-{name}")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    found += [f"link {line.split()[1]}" for line in links.splitlines() if f"blab-{name}" in line]
    found += [f"mount {line}" for line in Path("/proc/mounts").read_text().splitlines()
              if f"/lab/{name}/" in line or f"berth-lab-{name}" in line]
    pgrep = subprocess.run(["pgrep", "-af", f"lab/{name}/"], capture_output=True, text=True, check=False)
    found += [f"process {line}" for line in pgrep.stdout.splitlines() if "pgrep" not in line]
    found += [f"cgroup {p}" for p in Path("/sys/fs/cgroup").glob(f"*/berth-lab-{name}*")]
    return found + [f"state {p}" for p in [Path("/var/lib/berth/lab", name)] if p.exists()]


ENGINE_COMMAND = ("dockerd -H unix:///run/docker.sock -H unix:///run/berth-lab/docker.sock "
                  ">>/run/berth-lab/log/dockerd.log 2>&1 &")  # as the boot script starts it (remote/labhost.sh)


def engine_pids(host: LabHost) -> list[int]:
    return [pid for pid, cmd in processes_of(host).items() if cmd.startswith("dockerd ")]


def stop_engine(host: LabHost, timeout: float = 180) -> None:
    """Stop the host's engine as a shutdown or reboot does: SIGTERM to dockerd, which stops every container at
    once (each gets its stop signal, then SIGKILL) and exits; returns when it has."""
    pids = engine_pids(host)
    assert pids, f"no engine runs on {host.name}"
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        assert time.monotonic() < deadline, f"{host.name}'s engine did not stop within {timeout:.0f}s"
        time.sleep(0.2)


def start_engine(host: LabHost, timeout: float = 120) -> None:
    """Start the host's engine again in the host's own namespaces (mount, network, UTS, PID: it becomes a child
    of the host's init, as at boot); returns when it answers. Its restart policies then start the containers."""
    init = host.pid_file.read_text().split()[0]
    subprocess.run(["nsenter", "-t", init, "-m", "-n", "-u", "-p", "--", "sh", "-c", ENGINE_COMMAND], check=True,
                   timeout=30)
    deadline = time.monotonic() + timeout
    while subprocess.run(["docker", "-H", f"unix://{host.docker_socket}", "version"], capture_output=True,
                         timeout=30, check=False).returncode != 0:
        assert time.monotonic() < deadline, f"{host.name}'s engine did not answer within {timeout:.0f}s"
        time.sleep(0.2)
