"""`berth lab up|down|status|kill`: several hosts on one machine, each with its own Docker engine and sshd.

The plan (names, addresses, files, commands) comes from berth.remote.labplan; this module runs it. A host is a
network namespace plus mount/UTS/PID namespaces whose PID 1 is a small init; killing that init ends the host.
The hosts share the machine's kernel, `/usr` and CPUs: honest for SSH fan-out, per-host engines and state, real
L2/L3 and VXLAN between hosts and losing a host; not for per-host packages or kernels (docs/lab.md).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from berth.errors import HostError
from berth.remote import labplan
from berth.remote.labplan import Lab, LabError, LabHost, LabUsageError
from berth.remote.labsys import (
    Progress,
    cmdline,
    ensure_programs,
    host_processes,
    init_pid,
    init_program,
    is_init,
    kill,
    netns_exists,
    parent,
    pids,
    run,
    run_all,
    running_berth,
)
from berth.run.events import Status
from berth.run.scheduler import Task

# The hosts' daemons get a clean environment: nothing of the caller's (a proxy variable, a virtualenv) leaks in.
BOOT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
HOST_READY_S = 90.0
KILL_WAIT_S = 10.0
CGROUP_ROOT = Path("/sys/fs/cgroup")
CREATED_DIRS = "created-dirs.json"  # machine directories the lab created as mount points (down removes them)


# --- files -------------------------------------------------------------------------------------------------------


def write_lab_files(lab: Lab, progress: Progress) -> None:
    """State directory, the lab key, each host's directory, keys and configuration, inventory, ssh_config."""
    lab.state_dir.mkdir(parents=True, exist_ok=True)
    lab.state_dir.chmod(0o700)
    lab.record.write_text(labplan.lab_to_json(lab))
    if not lab.key.exists():
        progress("generating the lab key")
        _keygen(lab.key, f"berth-lab-{lab.name}")
    public = lab.key.with_suffix(".pub").read_text()
    host_keys = {}
    for host in lab.hosts:
        host_keys[host.name] = _write_host_files(lab, host, public)
    lab.known_hosts.write_text(labplan.known_hosts_text(lab, host_keys))
    lab.ssh_config.write_text(labplan.ssh_config_text(lab))
    lab.inventory.write_text(labplan.inventory_text(lab, running_berth()))


def _keygen(path: Path, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], "ssh-keygen")
    path.chmod(0o600)


def _write_host_files(lab: Lab, host: LabHost, authorized: str) -> str:
    """The host's directory; returns its public host key (for the lab's known_hosts)."""
    for sub in ("ssh", "log", "root"):
        (host.dir / sub).mkdir(parents=True, exist_ok=True)
    (host.dir / "ssh").chmod(0o700)
    if not host.host_key.exists():
        _keygen(host.host_key, f"{host.name}-host-key")
    (host.dir / "ssh" / "authorized_keys").write_text(authorized)
    (host.dir / "ssh" / "sshd_config").write_text(labplan.sshd_config(host))
    (host.dir / "daemon.json").write_text(json.dumps(labplan.daemon_json(lab, host), indent=2) + "\n")
    (host.dir / "hosts").write_text(labplan.hosts_file(lab, host))  # in place: a running host sees a grown lab
    script = resources.files("berth.remote").joinpath("labhost.sh").read_text()
    host.boot_script.write_text(script)
    return host.host_key.with_suffix(".pub").read_text()


def ensure_mount_points(lab: Lab) -> None:
    """Hosts bind their own directories over these; a missing one is created and recorded, so `down` removes
    it again (no trace left on the machine)."""
    record = lab.state_dir / CREATED_DIRS
    created = set(json.loads(record.read_text())) if record.exists() else set()
    for path in map(Path, labplan.PRIVATE_DIRS):
        if not path.exists():
            path.mkdir(parents=True)
            created.add(str(path))
    record.write_text(json.dumps(sorted(created)))


# --- observing ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostStatus:
    """What `lab status` shows per host."""

    name: str
    address: str
    groups: tuple[str, ...]
    netns: bool
    init_pid: int | None  # alive and really this host's init
    engine: str | None  # the engine's version when it answers
    ssh: bool

    @property
    def healthy(self) -> bool:
        return self.netns and self.init_pid is not None and self.engine is not None and self.ssh


def engine_version(host: LabHost, timeout: float = 5.0) -> str | None:
    if not host.docker_socket.exists():
        return None
    try:
        proc = run(["docker", "-H", f"unix://{host.docker_socket}", "version", "--format", "{{.Server.Version}}"],
                   check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def ssh_answers(lab: Lab, host: LabHost, timeout: float = 10.0) -> bool:
    try:
        return run(labplan.ssh_command(lab, host, "true"), check=False, timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def host_status(lab: Lab, host: LabHost) -> HostStatus:
    pid = init_pid(host)
    alive = pid is not None
    return HostStatus(host.name, str(host.address), host.groups, netns_exists(host.netns), pid,
                      engine_version(host) if alive else None, ssh_answers(lab, host) if alive else False)


def status(lab: Lab) -> list[HostStatus]:
    return [host_status(lab, h) for h in lab.hosts]


def status_json(lab: Lab, found: list[HostStatus]) -> str:
    hosts = [{**asdict(s), "healthy": s.healthy} for s in found]
    return json.dumps({"lab": lab.name, "cidr": str(lab.network), "machine_address": str(lab.machine_address),
                       "registry": lab.registry, "inventory": str(lab.inventory), "key": str(lab.key),
                       "fabric": fabric_ok(lab), "hosts": hosts}, indent=2)


def fabric_ok(lab: Lab) -> bool:
    if not netns_exists(lab.fabric_netns):
        return False
    proc = run(["ip", "-j", "addr", "show", "dev", lab.machine_link], check=False)
    if proc.returncode != 0:
        return False
    addresses = [a.get("local") for link in json.loads(proc.stdout or "[]") for a in link.get("addr_info", [])]
    return str(lab.machine_address) in addresses


def load_lab(name: str, state_root: Path = labplan.STATE_ROOT) -> Lab:
    """The lab recorded by `up` (status, kill and down need only its name)."""
    labplan.check_name(name)
    record = state_root / name / "lab.json"
    if not record.exists():
        raise LabUsageError(f"there is no lab {name!r} on this machine", f"create it: berth lab up --name {name}")
    return labplan.lab_from_json(record.read_text(), state_root)


def machine_addresses(state_root: Path = labplan.STATE_ROOT) -> list[str]:
    """The machine's .1 address of every recorded lab whose link exists (where the registry may be published)."""
    found = []
    for record in sorted(state_root.glob("*/lab.json")) if state_root.is_dir() else []:
        lab = labplan.lab_from_json(record.read_text(), state_root)
        if fabric_ok(lab):
            found.append(str(lab.machine_address))
    return found


# --- up ----------------------------------------------------------------------------------------------------------


def check_no_clash(lab: Lab) -> None:
    """The lab's network must not be routed on the machine by anything but this lab's own link."""
    proc = run(["ip", "-j", "-4", "route", "show"], check=False)
    for route in json.loads(proc.stdout or "[]"):
        dst, dev = route.get("dst", ""), route.get("dev", "")
        if dst in ("default", "") or dev == lab.machine_link:
            continue
        try:
            other = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if other.overlaps(lab.network):
            raise LabUsageError(f"{lab.network} is already routed on this machine ({dst} dev {dev})",
                                "another lab or network uses it: pick another TEST-NET range with --cidr")


def up_tasks(lab: Lab, install: bool = True) -> list[Task]:
    """prepare -> fabric -> every host in parallel, for the scheduler's per-host progress lines."""
    prepare = Task("prepare", lambda p: _prepare(lab, install, p))
    fabric = Task("fabric", lambda p: _fabric_up(lab, p), frozenset({"prepare"}))
    hosts = [Task(h.name, _host_task(lab, h), frozenset({"fabric"})) for h in lab.hosts]
    return [prepare, fabric, *hosts]


def _host_task(lab: Lab, host: LabHost) -> Callable[[Progress], Status]:
    return lambda progress: host_up(lab, host, progress)


def _prepare(lab: Lab, install: bool, progress: Progress) -> Status:
    if os.geteuid() != 0:
        raise HostError("berth lab needs root (namespaces, mounts, links)", "run it as root")
    status_ = ensure_programs(install, progress)
    write_lab_files(lab, progress)
    ensure_mount_points(lab)
    return status_


def _fabric_up(lab: Lab, progress: Progress) -> Status:
    if fabric_ok(lab):
        return Status.CACHED
    progress("building the fabric")
    down(lab, keep_state=True)  # a broken fabric: start over (host disks are kept)
    check_no_clash(lab)
    run_all(labplan.fabric_commands(lab), "fabric")
    return Status.SUCCEEDED


def host_up(lab: Lab, host: LabHost, progress: Progress) -> Status:
    """A healthy host is left as is; anything else is torn down (its disk kept, like a reboot) and booted."""
    if host_status(lab, host).healthy:
        return Status.CACHED
    stop_host(lab, host)
    progress("network namespace")
    run_all(labplan.host_link_commands(lab, host), host.name)
    progress("booting")
    boot_host(host)
    wait_ready(lab, host, progress)
    return Status.SUCCEEDED


def boot_host(host: LabHost) -> int:
    """Start the host's init detached from berth (its own session) and record the init's pid."""
    host.boot_log.parent.mkdir(parents=True, exist_ok=True)
    host.pid_file.unlink(missing_ok=True)
    with open(host.boot_log, "ab") as log:
        proc = subprocess.Popen(labplan.boot_command(host, init_program()), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True, env=BOOT_ENV)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = [p for p in pids() if parent(p) == proc.pid and is_init(p, host)]
        if children:
            host.pid_file.write_text(f"{children[0]}\n")
            return children[0]
        if proc.poll() is not None:
            raise host_failed(host, f"it stopped while booting (exit {proc.returncode})")
        time.sleep(0.05)
    raise host_failed(host, "its init did not start within 10s")


def wait_ready(lab: Lab, host: LabHost, progress: Progress, timeout: float = HOST_READY_S) -> None:
    """Until the engine and sshd answer; a dead init fails at once with the host's logs."""
    deadline = time.monotonic() + timeout
    engine = None
    while time.monotonic() < deadline:
        if init_pid(host) is None:
            raise host_failed(host, "it stopped while booting")
        engine = engine or engine_version(host, timeout=3)
        if engine and ssh_answers(lab, host, timeout=5):
            progress(f"engine {engine}, sshd on {host.address}")
            return
        progress("waiting for sshd" if engine else "waiting for the engine")
        time.sleep(0.3)
    raise host_failed(host, f"its engine or sshd did not answer within {timeout:.0f}s")


def host_failed(host: LabHost, why: str) -> LabError:
    details = []
    for log in (host.boot_log, host.dockerd_log):
        lines = log.read_text(errors="replace").splitlines()[-8:] if log.exists() else []
        if lines:
            details += [f"{log}:"] + [f"  {line}" for line in lines]
    lab_name = host.dir.parent.parent.name
    return LabError(f"lab host {host.name} failed: {why}",
                    f"see {host.boot_log} and {host.dockerd_log}; `berth lab up` retries, "
                    f"`berth lab down --name {lab_name}` removes the lab", details=details)


# --- kill and down -----------------------------------------------------------------------------------------------


def kill_host(lab: Lab, host: LabHost) -> bool:
    """Lose the host abruptly: SIGKILL its init (the kernel ends every process of its PID namespace) and
    unplug its cable (its bridge port goes down), so it neither answers nor refuses connections any more."""
    pid = init_pid(host)
    if pid is not None:
        kill(pid)
    run(["ip", "-n", lab.fabric_netns, "link", "set", host.fabric_link, "down"], check=False)
    return pid is not None


def stop_host(lab: Lab, host: LabHost) -> None:
    """Kill the host's processes and wait for them, delete its namespace and link, remove its cgroups."""
    for pid in sorted(host_processes(host), key=lambda p: not is_init(p, host)):  # the init first
        kill(pid)
    deadline = time.monotonic() + KILL_WAIT_S
    while host_processes(host) and time.monotonic() < deadline:
        time.sleep(0.05)
    run(["ip", "-n", lab.fabric_netns, "link", "delete", host.fabric_link], check=False)
    run(["ip", "netns", "delete", host.netns], check=False)
    remove_cgroups(host.netns)
    host.docker_socket.unlink(missing_ok=True)


def remove_cgroups(name: str, wait_s: float = 30.0) -> None:
    """The hosts' engines put containers under <controller>/<host netns>/ (cgroup-parent); rmdir them bottom-up.

    The containers' processes live in PID namespaces nested in the host's: they die with its init, but a busy host
    (guests, two dozen services) can take seconds to empty its cgroups. Whatever still runs in them belongs to the
    lab host and is killed; removal is retried until `wait_s`.
    """
    if not CGROUP_ROOT.is_dir():
        return
    deadline = time.monotonic() + wait_s
    for controller in CGROUP_ROOT.iterdir():
        top = controller / name
        while top.is_dir():
            walk = sorted(os.walk(top, topdown=False), key=lambda w: -len(w[0]))
            for path, _dirs, _files in walk:
                _kill_members(Path(path))
                with contextlib.suppress(OSError):
                    os.rmdir(path)
            if not top.exists() or time.monotonic() >= deadline:
                break
            time.sleep(0.1)


def _kill_members(cgroup: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        for line in (cgroup / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(line), signal.SIGKILL)


def down(lab: Lab, keep_state: bool = False) -> None:
    """Remove every trace: processes, namespaces, links, cgroups, mounts under the state directory, the state
    itself and the mount points the lab created. Idempotent; works after a partial `up` or a killed host."""
    for host in _all_hosts(lab):
        stop_host(lab, host)
    _kill_users_of(lab.state_dir)
    for cmd in labplan.teardown_commands(lab, ()):
        run(cmd, check=False)
    if keep_state:
        return
    _unmount_under(lab.state_dir)
    record = lab.state_dir / CREATED_DIRS
    created = json.loads(record.read_text()) if record.exists() else []
    shutil.rmtree(lab.state_dir, ignore_errors=True)
    for path in sorted(created, reverse=True):
        if not _used_by_other_labs(lab) and Path(path).is_dir() and not any(Path(path).iterdir()):
            Path(path).rmdir()
    with contextlib.suppress(OSError):
        lab.state_dir.parent.rmdir()  # only when no other lab is left


def _kill_users_of(state_dir: Path) -> None:
    """ssh clients still using the lab's files, e.g. connection masters (ControlPersist) to its hosts."""
    needle = f"{state_dir}/"
    for pid in pids():
        args = cmdline(pid)
        program = Path((args[0].split() or [""])[0]).name if args else ""
        if program.startswith("ssh") and program != "sshd" and any(needle in a for a in args):
            kill(pid)


def _all_hosts(lab: Lab) -> list[LabHost]:
    """The recorded hosts plus any namespace that looks like one of this lab's (a partial or larger `up`)."""
    known = {h.name for h in lab.hosts}
    extra = []
    prefix = f"berth-lab-{lab.name}"
    for ns in Path("/run/netns").glob(f"{prefix}*") if Path("/run/netns").is_dir() else []:
        suffix = ns.name[len(prefix):]
        if suffix.isdigit() and f"{lab.name}{suffix}" not in known:
            name = f"{lab.name}{suffix}"
            extra.append(LabHost(name, lab.machine_address, ns.name, name, lab.state_dir / "hosts" / name, ()))
    return [*lab.hosts, *extra]


def _unmount_under(path: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for target in sorted((m for m in mounts if m == str(path) or m.startswith(f"{path}/")), reverse=True):
        run(["umount", "-l", target], check=False)


def _used_by_other_labs(lab: Lab) -> bool:
    root = lab.state_dir.parent
    return root.is_dir() and any(p.name != lab.name and (p / "lab.json").exists() for p in root.iterdir())
