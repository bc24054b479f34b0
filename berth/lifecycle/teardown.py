"""Host objects services create outside containers (interfaces, namespaces, firewall rules): find and remove.

Declared per service in service.yml `teardown:` (see docs/services.md), so destroy and `cleanup host` know them
without knowing service names. Uses iproute2 and iptables on the host (berth runs as root there).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from berth.config.loader import Config
from berth.state.model import ServiceDef, Teardown, load_service

if TYPE_CHECKING:
    from berth.state.facts import HostNet


@dataclass(frozen=True)
class HostObject:
    kind: str  # link | links | vifs | netns | iptables | chains
    name: str  # interface / namespace name, comma-separated link or vif prefixes, the rule spec, or a chain prefix
    service: str


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=30)


def _render(config: Config, text: str) -> str:
    values = config.globals.model_dump(mode="json")
    return jinja2.Template(text, undefined=jinja2.StrictUndefined).render(**values)


def links() -> list[str]:
    if not shutil.which("ip"):
        return []
    out = _run(["ip", "-o", "link", "show"]).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.count(":") >= 2]


def namespaces() -> list[str]:
    if not shutil.which("ip"):
        return []
    return [line.split()[0] for line in _run(["ip", "netns", "list"]).stdout.splitlines() if line.strip()]


def namespace_containers(name: str) -> set[str]:
    """Ids of the containers whose processes run in network namespace `name` (read from their cgroups)."""
    ids: set[str] = set()
    for pid in _run(["ip", "netns", "pids", name]).stdout.split():
        try:
            ids.update(re.findall(r"[0-9a-f]{64}", Path(f"/proc/{pid}/cgroup").read_text()))
        except OSError:
            continue  # the process ended meanwhile
    return ids


def _legacy_tables() -> list[str]:
    """The legacy iptables tables in use: listing one that is not would bring it into being."""
    try:
        return Path("/proc/net/ip_tables_names").read_text().split()
    except OSError:
        return []


def legacy_chains() -> list[str]:
    """User-defined chains of the legacy iptables tables (the neutron agents' backend; the engine's is separate)."""
    if not shutil.which("iptables-legacy"):
        return []
    names: set[str] = set()
    for table in _legacy_tables():
        out = _run(["iptables-legacy", "-t", table, "-S"]).stdout
        names.update(line.split()[1] for line in out.splitlines() if line.startswith("-N "))
    return sorted(names)


def _remove_chains(prefix: str) -> subprocess.CompletedProcess[str]:
    """Every rule jumping to a chain named prefix*, then those chains (flushed first), in each legacy table."""
    result = subprocess.CompletedProcess([], 0, "", "")
    for table in _legacy_tables():
        lines = [shlex.split(x) for x in _run(["iptables-legacy", "-t", table, "-S"]).stdout.splitlines()]
        chains = [w[1] for w in lines if w[:1] == ["-N"] and w[1].startswith(prefix)]
        jumps = [w[1:] for w in lines if w[:1] == ["-A"] and not w[1].startswith(prefix) and "-j" in w
                 and w[w.index("-j") + 1].startswith(prefix)]
        commands = [["-D", *j] for j in jumps] + [["-F", c] for c in chains] + [["-X", c] for c in chains]
        for command in commands:
            done = _run(["iptables-legacy", "-t", table, *command])
            result = done if done.returncode else result
    return result


def _remove_links(prefixes: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """Every link named prefix*, listed when removed (not when planned): an agent that ran until its container
    was removed may have made more of them since the host reported its links."""
    result = subprocess.CompletedProcess([], 0, "", "")
    removed: list[str] = []
    for name in (n for n in links() if n.startswith(prefixes)):
        done = _run(["ip", "link", "del", name])
        result = done if done.returncode and "Cannot find" not in done.stderr else result
        removed.append(name)
    return subprocess.CompletedProcess(result.args, result.returncode, " ".join(removed), result.stderr)


def _remove_vifs(prefixes: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """Every <prefix><port id> link whose VM tap (tap<port id>) is gone now (a veth pair goes with either end)."""
    present = links()
    result = subprocess.CompletedProcess([], 0, "", "")
    for name in present:
        prefix = next((p for p in prefixes if name.startswith(p)), None)
        if prefix and f"tap{name[len(prefix):]}" not in present:
            done = _run(["ip", "link", "del", name])
            result = done if done.returncode and "Cannot find" not in done.stderr else result
    return result


def rule_present(spec: str) -> bool:
    return bool(shutil.which("iptables")) and _run(["iptables", "-C", *shlex.split(spec)]).returncode == 0


def find(config: Config, service: ServiceDef, net: HostNet | None = None, active: bool = False) -> list[HostObject]:
    """The objects of `service`'s teardown that exist on the host `net` describes (None: this host, now).

    Pure given `net`: destroy plans another host from what that host reported (`HostFacts.net`). `active`: the
    service has containers there, which may make more prefixed links before they are removed: those are then
    swept at removal even if none was reported."""
    td: Teardown | None = service.teardown
    if td is None:
        return []
    if net is None:
        from berth.state.facts import host_net

        net = host_net()
    present_links, present_ns = net.links, net.namespaces
    out = []
    # an entry that renders to "" is dropped: e.g. `"{{ 'qbr' if openstack_release == 'epoxy' else '' }}"`
    names = {n for n in (_render(config, x) for x in td.links) if n}
    prefixes = tuple(p for p in (_render(config, x) for x in td.link_prefixes) if p)
    out += [HostObject("link", n, service.name) for n in present_links if n in names]
    if prefixes and (active or any(n.startswith(prefixes) for n in present_links)):
        out.append(HostObject("links", ",".join(prefixes), service.name))
    vifs = tuple(p for p in (_render(config, x) for x in td.vif_prefixes) if p)
    if vifs and any(n.startswith(vifs) for n in present_links):
        out.append(HostObject("vifs", ",".join(vifs), service.name))
    ns_prefixes = tuple(p for p in (_render(config, x) for x in td.netns_prefixes) if p)
    out += [HostObject("netns", n, service.name) for n in present_ns
            if ns_prefixes and n.startswith(ns_prefixes) and n not in net.in_use_elsewhere]
    out += [HostObject("iptables", r, service.name) for r in (_render(config, x) for x in td.iptables)
            if r and net.has_rule(r)]
    chain_prefixes = [p for p in (_render(config, x) for x in td.legacy_chains) if p]
    out += [HostObject("chains", p, service.name) for p in chain_prefixes
            if any(c.startswith(p) for c in net.legacy_chains)]
    return out


def find_for(config: Config, services: list[str], net: HostNet | None = None,
             active: frozenset[str] = frozenset()) -> list[HostObject]:
    """`find` for each of `services`; `active`: those with containers on the host."""
    out: list[HostObject] = []
    for name in services:
        out += find(config, load_service(name), net, name in active)
    return out


def data_dirs(config: Config, service: ServiceDef) -> list[str]:
    """The host directories of data `service` declares (teardown `data_dirs`), rendered; "" entries dropped."""
    if service.teardown is None:
        return []
    return [d for d in (_render(config, x).rstrip("/") for x in service.teardown.data_dirs) if d]


def remove_data_dir(path: str) -> str:
    """Remove a data directory and everything in it (`berth destroy --include-data`); one that is gone is fine."""
    target = Path(path)
    if not target.is_absolute() or target == Path("/") or len(target.parts) < 3:
        return f"data {path}: kept (not a path berth removes: it must be absolute and at least two levels deep)"
    if not target.exists():
        return f"data {path}: already gone"
    shutil.rmtree(target)
    return f"data {path}: removed"


def remove(obj: HostObject) -> str:
    """Remove one object; returns what was done (a gone object is fine: e.g. the peer of a deleted veth)."""
    if obj.kind == "link":
        result = _run(["ip", "link", "del", obj.name])
    elif obj.kind == "netns":
        result = _run(["ip", "netns", "delete", obj.name])
    elif obj.kind == "links":
        result = _remove_links(tuple(obj.name.split(",")))
    elif obj.kind == "vifs":
        result = _remove_vifs(tuple(obj.name.split(",")))
    elif obj.kind == "chains":
        result = _remove_chains(obj.name)
    else:
        result = _run(["iptables", "-D", *shlex.split(obj.name)])
        while result.returncode == 0 and rule_present(obj.name):
            result = _run(["iptables", "-D", *shlex.split(obj.name)])
    ok = result.returncode == 0 or "Cannot find" in result.stderr or "does not exist" in result.stderr
    what = f"{obj.kind} {obj.name}" + (f" ({result.stdout})" if obj.kind == "links" and result.stdout else "")
    return f"{what}: {'removed' if ok else 'could not remove: ' + result.stderr.strip()}"
