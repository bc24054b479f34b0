"""The test lab as a value: names, addresses, files and the commands that build or remove it. Pure.

A lab is N "hosts" on one machine, each a set of namespaces (network, mount, UTS, PID) with its own Docker engine
and sshd, on a Linux bridge that lives in its own "fabric" network namespace. Everything here is computed from
(lab name, host count, CIDR) so `up`, `down` and `status` agree on what exists, and unit tests can check the plan
without touching the machine. The hosts share the machine's kernel, `/usr` and CPUs (see docs/lab.md).
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from berth.errors import BerthError, ExitCode

# RFC 5737: documentation ranges, never routed anywhere, so the lab can never collide with a real network.
TEST_NETS = tuple(ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
DEFAULT_CIDR = "198.51.100.0/24"
DEFAULT_NAME = "lab"
DEFAULT_HOSTS = 3
DEFAULT_REGISTRY_PORT = 4000  # berth's registry_port default
STATE_ROOT = Path("/var/lib/berth/lab")
MACHINE_OFFSET = 1  # the machine's own address in the lab (.1): the deployment host, its registry, Ansible
FIRST_HOST_OFFSET = 11  # lab1 = .11, lab2 = .12, ...
MAX_HOSTS = 40
# A letter at the end keeps host names (<lab><n>) of two labs apart: lab `lab` host 11 vs lab `lab1` host 1.
_NAME = re.compile(r"^[a-z]([a-z0-9]{0,6}[a-z])?$")
# Directories each host gets its own copy of (bound over the machine's inside the host's mount namespace).
PRIVATE_DIRS = ("/etc/docker", "/var/lib/docker", "/etc/berth", "/var/lib/berth", "/var/log/berth")
IN_HOST_DIR = "/run/berth-lab"  # where the host's own state directory is visible inside the host
BRIDGE = "br0"  # inside the fabric namespace only
FABRIC_MACHINE_END = "machine"  # the fabric's end of the machine's veth (inside the fabric namespace)


class LabError(BerthError):
    """The lab cannot be planned (bad name, CIDR, host count) or a host failed to come up."""

    exit_code = ExitCode.HOST


class LabUsageError(LabError):
    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class LabHost:
    """One host of the lab: its names, address, groups and the directory holding its state on the machine."""

    name: str
    address: IPv4Address
    netns: str
    fabric_link: str  # the bridge end of its veth, inside the fabric namespace
    dir: Path
    groups: tuple[str, ...]

    @property
    def docker_socket(self) -> Path:
        """The engine's socket as the machine sees it (dockerd also listens on /run/docker.sock inside)."""
        return self.dir / "docker.sock"

    @property
    def boot_script(self) -> Path:
        return self.dir / "boot.sh"

    @property
    def pid_file(self) -> Path:
        return self.dir / "init.pid"

    @property
    def boot_log(self) -> Path:
        return self.dir / "log" / "boot.log"

    @property
    def dockerd_log(self) -> Path:
        return self.dir / "log" / "dockerd.log"

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh" / "ssh_host_ed25519_key"


@dataclass(frozen=True)
class Lab:
    """A whole lab: the fabric, the machine's link into it, and the hosts."""

    name: str
    network: IPv4Network
    hosts: tuple[LabHost, ...]
    state_dir: Path
    registry_port: int = DEFAULT_REGISTRY_PORT

    @property
    def controllers(self) -> int:
        """How many hosts are in `control` (`lab up --controllers`)."""
        return sum(1 for h in self.hosts if "control" in h.groups)

    @property
    def fabric_netns(self) -> str:
        return f"berth-lab-{self.name}-fabric"

    @property
    def machine_link(self) -> str:
        """The machine's end of its veth into the bridge (the only link berth adds to the machine's namespace)."""
        return f"blab-{self.name}"

    @property
    def machine_address(self) -> IPv4Address:
        return self.network.network_address + MACHINE_OFFSET

    @property
    def registry(self) -> str:
        """Where the hosts' engines look for the deployment host's registry (an insecure registry)."""
        return f"{self.machine_address}:{self.registry_port}"

    @property
    def key(self) -> Path:
        """The private key the lab generates; its public half is every host's only authorized key."""
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def inventory(self) -> Path:
        return self.state_dir / "inventory"

    @property
    def ssh_config(self) -> Path:
        return self.state_dir / "ssh_config"

    @property
    def record(self) -> Path:
        return self.state_dir / "lab.json"

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise LabUsageError(f"lab {self.name} has no host {name}",
                            f"its hosts: {', '.join(h.name for h in self.hosts) or 'none'}")


# --- planning ----------------------------------------------------------------------------------------------------


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise LabUsageError(f"invalid lab name {name!r}",
                            "use 1-8 lowercase letters and digits, starting and ending with a letter (e.g. lab, ci)")
    return name


def parse_cidr(text: str) -> IPv4Network:
    """The lab's network, which must lie inside a TEST-NET range (RFC 5737): nothing real can ever be there."""
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise LabUsageError(f"invalid CIDR {text!r}: {exc}", "write it like 198.51.100.0/24") from None
    allowed = ", ".join(str(n) for n in TEST_NETS)
    if not isinstance(network, IPv4Network) or not any(network.subnet_of(t) for t in TEST_NETS):  # type: ignore[arg-type]
        raise LabUsageError(f"refusing CIDR {text}: the lab only uses TEST-NET ranges ({allowed})",
                            "addresses outside them may exist on real networks; pick one of those ranges")
    return network


def layout(count: int, controllers: int = 1) -> list[tuple[str, ...]]:
    """Default groups: the first `controllers` hosts run control, network and monitoring (several: an HA control
    plane behind a VIP, docs/ha.md); the others are compute.

    With no host left for compute the controllers are computes too. Storage stays empty (the lab has no storage
    back end); the deployment host is the machine itself (see inventory_text).
    """
    if not 1 <= controllers <= count:
        raise LabUsageError(f"--controllers must be between 1 and the number of hosts ({count}), not {controllers}")
    if controllers == count:
        return [("control", "network", "compute", "monitoring")] * count
    return [("control", "network", "monitoring")] * controllers + [("compute",)] * (count - controllers)


def plan_lab(name: str = DEFAULT_NAME, hosts: int = DEFAULT_HOSTS, cidr: str = DEFAULT_CIDR,
             registry_port: int = DEFAULT_REGISTRY_PORT, state_root: Path = STATE_ROOT, controllers: int = 1) -> Lab:
    """Names and addresses of every part of lab `name`."""
    check_name(name)
    network = parse_cidr(cidr)
    if not 1 <= hosts <= MAX_HOSTS:
        raise LabUsageError(f"--hosts must be between 1 and {MAX_HOSTS}, not {hosts}")
    last = network.network_address + FIRST_HOST_OFFSET + hosts - 1
    if last >= network.broadcast_address:
        raise LabUsageError(f"{network} is too small for {hosts} hosts (they start at .{FIRST_HOST_OFFSET})",
                            "use a /24 of a TEST-NET range")
    state_dir = state_root / name
    members = tuple(
        LabHost(name=f"{name}{i}", address=network.network_address + FIRST_HOST_OFFSET + i - 1,
                netns=f"berth-lab-{name}{i}", fabric_link=f"{name}{i}", dir=state_dir / "hosts" / f"{name}{i}",
                groups=groups)
        for i, groups in enumerate(layout(hosts, controllers), start=1)
    )
    return Lab(name, network, members, state_dir, registry_port)


def lab_to_json(lab: Lab) -> str:
    """What `down` and `status` read back, so they need no options but the lab's name."""
    return json.dumps({"name": lab.name, "cidr": str(lab.network), "hosts": len(lab.hosts),
                       "controllers": lab.controllers, "registry_port": lab.registry_port}, indent=2) + "\n"


def lab_from_json(text: str, state_root: Path = STATE_ROOT) -> Lab:
    data = json.loads(text)
    return plan_lab(data["name"], int(data["hosts"]), data["cidr"], int(data["registry_port"]), state_root,
                    int(data.get("controllers", 1)))


# --- commands ----------------------------------------------------------------------------------------------------

Command = list[str]


def fabric_commands(lab: Lab) -> list[Command]:
    """The switch: a bridge in its own namespace (away from the machine's Docker FORWARD policy and bridge
    netfilter), and the machine's veth into it carrying the lab's .1 address."""
    ns, m = lab.fabric_netns, lab.machine_link
    return [
        ["ip", "netns", "add", ns],
        ["ip", "-n", ns, "link", "set", "lo", "up"],
        ["ip", "-n", ns, "link", "add", BRIDGE, "type", "bridge"],
        ["ip", "-n", ns, "link", "set", BRIDGE, "up"],
        ["ip", "link", "add", m, "address", mac_of(lab.machine_address), "type", "veth",
         "peer", "name", FABRIC_MACHINE_END, "netns", ns],
        ["ip", "-n", ns, "link", "set", FABRIC_MACHINE_END, "master", BRIDGE],
        ["ip", "-n", ns, "link", "set", FABRIC_MACHINE_END, "up"],
        ["ip", "addr", "add", f"{lab.machine_address}/{lab.network.prefixlen}", "dev", m],
        ["ip", "link", "set", m, "up"],
    ]


def mac_of(address: IPv4Address) -> str:
    """A fixed, locally administered MAC per address: a host booted again (after `lab kill`) keeps its MAC,
    so the neighbours' ARP caches stay right (a new random MAC cost ~20 s of stale entries)."""
    return "02:00:" + ":".join(f"{b:02x}" for b in address.packed)


def host_link_commands(lab: Lab, host: LabHost) -> list[Command]:
    """The host's network namespace with `lo` and `eth0` (its veth into the bridge); no default route, so
    nothing a host sends can leave the lab."""
    ns, f = host.netns, lab.fabric_netns
    return [
        ["ip", "netns", "add", ns],
        ["ip", "-n", f, "link", "add", host.fabric_link, "type", "veth", "peer", "name", "eth0",
         "address", mac_of(host.address), "netns", ns],
        ["ip", "-n", f, "link", "set", host.fabric_link, "master", BRIDGE],
        ["ip", "-n", f, "link", "set", host.fabric_link, "up"],
        ["ip", "-n", ns, "link", "set", "lo", "up"],
        ["ip", "-n", ns, "addr", "add", f"{host.address}/{lab.network.prefixlen}", "dev", "eth0"],
        ["ip", "-n", ns, "link", "set", "eth0", "up"],
    ]


def boot_command(host: LabHost, init: str) -> Command:
    """Enter the host's network namespace, then new mount/UTS/PID namespaces whose PID 1 is a small init running
    the boot script. SIGKILL to that init ends every process of the host (the kernel kills the PID namespace)."""
    return [
        "nsenter", f"--net=/run/netns/{host.netns}",
        "unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc",
        init, "--", "/bin/sh", str(host.boot_script), host.name, str(host.address), str(host.dir),
    ]


def teardown_commands(lab: Lab, hosts: tuple[LabHost, ...] | None = None) -> list[Command]:
    """Links and namespaces to delete (after the hosts' inits are killed); each may already be gone."""
    hosts = lab.hosts if hosts is None else hosts
    commands = [["ip", "netns", "delete", h.netns] for h in hosts]
    return commands + [["ip", "link", "delete", lab.machine_link], ["ip", "netns", "delete", lab.fabric_netns]]


# --- files -------------------------------------------------------------------------------------------------------


def daemon_json(lab: Lab, host: LabHost) -> dict[str, object]:
    """The host engine's configuration: host networking only (no docker0, no iptables rules, so the FORWARD
    policy stays ACCEPT for neutron's bridges), containers in their own cgroup subtree, the lab registry."""
    return {
        "bridge": "none",
        "iptables": False,
        "ip-masq": False,
        "cgroup-parent": f"/{host.netns}",
        "insecure-registries": [lab.registry],
        "log-driver": "json-file",
        "log-opts": {"max-size": "20m", "max-file": "2"},
    }


def hosts_file(lab: Lab, host: LabHost) -> str:
    """The host's /etc/hosts: its own name and every other lab host's, as a deployer's bootstrap writes on real
    hosts (Kolla's bootstrap-servers does): `sudo`, RabbitMQ and libvirt resolve host names, and the lab hosts
    have no DNS (no route out of the lab)."""
    lines = ["127.0.0.1 localhost", f"{lab.machine_address} {lab.name}-deploy"]
    lines += [f"{other.address} {other.name}" for other in lab.hosts]
    return f"# berth lab {lab.name}: written by `berth lab up` for {host.name}\n" + "\n".join(lines) + "\n"


def sshd_config(host: LabHost) -> str:
    """sshd on the host's address only, key login for root, keys from the host's own state directory."""
    ssh = f"{IN_HOST_DIR}/ssh"
    return "\n".join([
        f"ListenAddress {host.address}:22",
        f"HostKey {ssh}/ssh_host_ed25519_key",
        f"AuthorizedKeysFile {ssh}/authorized_keys",
        "PidFile /run/sshd.pid",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "PrintMotd no",
        "AcceptEnv LANG LC_*",
        "Subsystem sftp /usr/lib/openssh/sftp-server",
        "",
    ])


def ssh_options(lab: Lab) -> list[str]:
    """Client options: the lab key only, the lab's own known_hosts (the machine's stays untouched)."""
    return ["-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={lab.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]


def ssh_command(lab: Lab, host: LabHost, *command: str) -> Command:
    return ["ssh", "-F", "/dev/null", "-i", str(lab.key), *ssh_options(lab), f"root@{host.address}", *command]


def known_hosts_text(lab: Lab, public_keys: dict[str, str]) -> str:
    """`name,address keytype key` per host, from each host key's .pub file."""
    lines = []
    for host in lab.hosts:
        kind, key = public_keys[host.name].split()[:2]
        lines.append(f"{host.name},{host.address} {kind} {key}")
    return "\n".join(lines) + "\n"


def ssh_config_text(lab: Lab) -> str:
    """For people: `ssh -F <lab>/ssh_config lab1`."""
    blocks = [f"Host {h.name}\n  HostName {h.address}\n" for h in lab.hosts]
    common = (f"Host *\n  User root\n  IdentityFile {lab.key}\n  IdentitiesOnly yes\n"
              f"  UserKnownHostsFile {lab.known_hosts}\n  StrictHostKeyChecking yes\n  ConnectTimeout 5\n")
    return "".join(blocks) + common


def inventory_text(lab: Lab, berth_command: str = "berth") -> str:
    """An Ansible INI inventory berth reads (`berth -i <lab>/inventory ...`): the standard groups, each host's
    address as ansible_host and api_address, eth0 as its interface; the machine itself is the deployment host.

    `berth_command` is how the hosts run berth (`berth observe`, `berth apply-plan`): lab hosts share the
    machine's filesystem, so the berth that made the lab runs on them as is, at the same path."""
    deploy = f"{lab.name}-deploy"
    lines = [
        f"# berth lab {lab.name}: {len(lab.hosts)} host(s) on {lab.network}, written by `berth lab up`.",
        "# The hosts are namespaces on one machine: they share its kernel, /usr and CPUs (docs/lab.md).",
        f"# The deployment host is the machine itself ({lab.machine_address}, where berth, Ansible and the",
        f"# registry {lab.registry} run).",
        "",
    ]
    for group in ("control", "network", "compute", "storage", "monitoring"):
        lines.append(f"[{group}]")
        lines += [_host_line(lab, h) for h in lab.hosts if group in h.groups]
        lines.append("")
    machine = (f"{deploy} ansible_connection=local ansible_host={lab.machine_address} "
               f"api_address={lab.machine_address} network_interface={lab.machine_link}")
    lines += ["[deployment]", machine, ""]
    common = " ".join(shlex.quote(o) for o in ssh_options(lab))
    lines += ["[all:vars]", "ansible_user=root", "ansible_python_interpreter=/usr/bin/python3",
              f"berth_command={shlex.quote(berth_command)}",
              f"ansible_ssh_private_key_file={lab.key}", f'ansible_ssh_common_args="{common}"', ""]
    return "\n".join(lines)


def _host_line(lab: Lab, host: LabHost) -> str:
    return f"{host.name} ansible_host={host.address} api_address={host.address} network_interface=eth0"
