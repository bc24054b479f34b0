"""Which hosts a many-hosts command touches, and in which order: pure functions of the configuration.

Order across hosts: each host applies its own plan with no view of the others, so a host must not start before
the hosts its services need are done. A host *waits for* another when it runs a service whose bootstrap, or the
bootstrap of a service it depends on (transitively), happens there: deployment-wide steps (databases, db-sync,
Keystone registration) run on the first host of the service's group, and without a VIP that host is also where
other hosts reach the service. Hosts are applied in waves: a wave holds every host whose hosts-to-wait-for are
all in earlier waves. With the standard layout the first control host is wave 1 and every other host wave 2.
Hosts that wait for each other (a cycle, possible with unusual groupings) share one wave.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from berth.config.loader import Config
from berth.errors import ConfigError
from berth.lifecycle.render import enabled_services
from berth.lifecycle.wiring import container_hosts
from berth.state.model import ServiceDef


def services_by_host(config: Config, selected: Collection[str] | None = None) -> dict[str, set[str]]:
    """Host -> enabled services with a container there (only `selected` ones when given), in inventory order."""
    out: dict[str, set[str]] = {}
    inventory_order = list(config.inventory.hosts) if config.inventory is not None else []
    for service in enabled_services(config):
        if selected is not None and service.name not in selected:
            continue
        for key in service.containers:
            for host in container_hosts(config, service, key):
                out.setdefault(host, set()).add(service.name)
    rank = {h: n for n, h in enumerate(inventory_order)}
    return {h: out[h] for h in sorted(out, key=lambda h: rank.get(h, 0))}


def bootstrap_host(config: Config, service: ServiceDef) -> str | None:
    """Where the service's deployment-wide steps run: the first host of its main container's group."""
    main = service.main_container
    hosts = container_hosts(config, service, main) if main else []
    return hosts[0] if hosts else None


def waits_for(config: Config, running: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """Host -> the other hosts it must wait for (see the module docstring)."""
    services = {s.name: s for s in enabled_services(config)}
    first = {name: bootstrap_host(config, s) for name, s in services.items() if not s.per_host}
    out: dict[str, set[str]] = {}
    for host, names in running.items():
        needed = set()
        for name in names:
            needed |= {name} | dependencies(services, name)
        out[host] = {h for n in needed if (h := first.get(n)) and h != host}
    return out


def dependencies(services: Mapping[str, ServiceDef], name: str) -> set[str]:
    """Every service `name` depends on, transitively (only enabled ones count)."""
    seen: set[str] = set()
    todo = list(services[name].depends_on) if name in services else []
    while todo:
        dep = todo.pop()
        if dep in seen or dep not in services:
            continue
        seen.add(dep)
        todo.extend(services[dep].depends_on)
    return seen


def waves(hosts: Sequence[str], waits: Mapping[str, set[str]]) -> list[list[str]]:
    """Hosts in waves (each after every host it waits for); waits on hosts outside `hosts` are ignored."""
    left = list(hosts)
    scope = set(hosts)
    done: set[str] = set()
    out: list[list[str]] = []
    while left:
        ready = [h for h in left if (waits.get(h, set()) & scope) <= done] or left  # a cycle: all together
        out.append(ready)
        done |= set(ready)
        left = [h for h in left if h not in done]
    return out


def batches(wave: Sequence[str], serial: int | None) -> list[list[str]]:
    """A wave in batches of at most `serial` hosts (None or 0: the whole wave at once)."""
    if not serial or serial >= len(wave):
        return [list(wave)]
    return [list(wave[i:i + serial]) for i in range(0, len(wave), serial)]


def select(config: Config, candidates: Sequence[str], limit: str | None) -> list[str]:
    """The candidates named by `--limit`: host or group names, comma-separated (None: all of them)."""
    if not limit:
        return list(candidates)
    inventory = config.inventory
    wanted: set[str] = set()
    for word in (w.strip() for w in limit.split(",")):
        if not word:
            continue
        if inventory is not None and word in inventory.hosts:
            wanted.add(word)
        elif inventory is not None and word in inventory.groups:
            wanted |= set(inventory.hosts_in(word))
        else:
            raise ConfigError(f"--limit {word}: no such host or group in the inventory",
                              f"hosts: {', '.join(inventory.hosts) if inventory else 'localhost'}; groups: "
                              f"{', '.join(sorted(inventory.groups)) if inventory else ''}")
    chosen = [h for h in candidates if h in wanted]
    if not chosen:
        raise ConfigError(f"--limit {limit}: none of these hosts runs anything of this deployment",
                          f"hosts that do: {', '.join(candidates)}")
    return chosen


def dependents(failed: str, waits: Mapping[str, set[str]]) -> set[str]:
    """Hosts that wait for `failed`, directly or through others: they are not applied after it failed."""
    out: set[str] = set()
    todo = [failed]
    while todo:
        current = todo.pop()
        for host, needs in waits.items():
            if current in needs and host not in out and host != failed:
                out.add(host)
                todo.append(host)
    return out
