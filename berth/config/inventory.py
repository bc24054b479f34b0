"""Inventories: which hosts exist, their variables, and which groups they belong to.

Services map to groups (control, network, compute, ...); the inventory maps groups to hosts. The built-in
all-in-one puts `localhost` in every group. Multinode inventories use Ansible's INI (or YAML) format so operators
can reuse what they know and the same file drives ansible-runner.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.config.yamlfile import Located, mapping_from_text
from berth.errors import ConfigError

STANDARD_GROUPS = ("control", "network", "compute", "storage", "monitoring", "deployment")
LOCALHOST = "localhost"
_GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_RANGE = re.compile(r"\[(\d+):(\d+)\]")


@dataclass(frozen=True)
class Host:
    """One host and its merged variables (group vars, then host vars)."""

    name: str
    vars: Mapping[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return str(self.vars.get("ansible_host", self.name))

    @property
    def is_local(self) -> bool:
        return self.vars.get("ansible_connection") == "local"


@dataclass(frozen=True)
class Inventory:
    """Hosts and groups (each group lists its hosts, children's hosts included)."""

    hosts: Mapping[str, Host]
    groups: Mapping[str, tuple[str, ...]]
    source: Path | None = None  # None: the built-in all-in-one

    @property
    def is_all_in_one(self) -> bool:
        return self.source is None

    def hosts_in(self, group: str) -> list[str]:
        """Hosts of `group` (none for a group the inventory does not define)."""
        return list(self.groups.get(group, ()))

    def hosts_for(self, group: str) -> list[str]:
        """Hosts of `group`; `a:b` (Ansible's union pattern) is every host of either, in the order first seen.

        A union places a container on hosts of several roles: the L2 agent runs wherever ports are plugged, on the
        network hosts (routers, DHCP) as well as on the computes (servers).
        """
        return list(dict.fromkeys(h for name in group.split(":") for h in self.hosts_in(name.strip())))

    def container_hosts(self, key: str, group: str) -> list[str]:
        """Hosts running container `key` whose role group is `group`: an inventory group named after the container
        (`[mariadb]`, `[nova-api]`: underscores as dashes, as Kolla names them) when the inventory has one with
        hosts, else the role group. So an operator narrows one container to some hosts, e.g. the database on one
        controller, without touching the service folder."""
        return self.hosts_in(key.replace("_", "-")) or self.hosts_for(group)

    def groups_of(self, host: str) -> list[str]:
        return sorted(g for g, members in self.groups.items() if host in members and g != "all")

    def problems(self) -> list[str]:
        """Standard groups missing (a misspelt `[compte]` would otherwise silently deploy no compute)."""
        where = str(self.source) if self.source else "built-in inventory"
        found = []
        for group in STANDARD_GROUPS:
            if group not in self.groups:
                found.append(f"{where}: group `{group}` is not defined (add `[{group}]`, even empty)")
        return found


def all_in_one() -> Inventory:
    """The built-in inventory: localhost, connected locally, in every group."""
    host = Host(LOCALHOST, {"ansible_connection": "local"})
    groups = {g: (LOCALHOST,) for g in ("all", *STANDARD_GROUPS)}
    return Inventory({LOCALHOST: host}, groups)


def load_inventory(path: Path | None) -> Inventory:
    """The inventory at `path` (INI, or YAML by extension), or the built-in all-in-one when None."""
    if path is None:
        return all_in_one()
    if not path.is_file():
        raise ConfigError(f"{path}: inventory does not exist",
                          "pass an existing file to --inventory (example: etc/berth/multinode)")
    text = path.read_text()
    if path.suffix in (".yml", ".yaml"):
        return parse_yaml_inventory(text, path)
    return parse_ini_inventory(text, path)


# --- the pieces common to both formats ---------------------------------------------------------------------------


@dataclass
class _Draft:
    """A group tree being read: direct hosts, children, vars; with the line each was declared on."""

    hosts: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # group -> host -> vars
    children: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    vars: dict[str, dict[str, str]] = field(default_factory=dict)

    def group(self, name: str) -> None:
        self.hosts.setdefault(name, {})
        self.children.setdefault(name, [])
        self.vars.setdefault(name, {})

    def finish(self, path: Path) -> Inventory:
        for name, kids in self.children.items():
            for kid, line in kids:
                if kid not in self.hosts:
                    raise ConfigError(f"{path}:{line}: group `{name}` lists child group `{kid}` which is not "
                                      f"defined", f"add a `[{kid}]` section or remove the line")
        members = {g: self._members(g, (), path) for g in self.hosts}
        all_hosts = sorted({h for group in members.values() for h in group})
        members["all"] = tuple(all_hosts)
        hosts = {h: Host(h, self._host_vars(h, members)) for h in all_hosts}
        return Inventory(hosts, members, path)

    def _members(self, group: str, seen: tuple[str, ...], path: Path) -> tuple[str, ...]:
        if group in seen:
            raise ConfigError(f"{path}: child groups form a cycle: {' -> '.join((*seen, group))}",
                              "a group cannot contain itself")
        found = dict.fromkeys(self.hosts.get(group, {}))
        for kid, _line in self.children.get(group, []):
            found.update(dict.fromkeys(self._members(kid, (*seen, group), path)))
        return tuple(found)

    def _depth(self, group: str) -> int:
        parents = [g for g, kids in self.children.items() if group in (k for k, _ in kids)]
        return 1 + max((self._depth(p) for p in parents), default=0)

    def _host_vars(self, host: str, members: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
        """all vars < parent group vars < child group vars < host vars (Ansible's precedence)."""
        merged = dict(self.vars.get("all", {}))
        groups = sorted((g for g in members if g != "all" and host in members[g]), key=lambda g: (self._depth(g), g))
        for group in groups:
            merged.update(self.vars.get(group, {}))
        for group in groups:
            merged.update(self.hosts.get(group, {}).get(host, {}))
        return merged


def _expand(pattern: str) -> list[str]:
    """`node[01:03]` -> node01, node02, node03 (Ansible's numeric ranges)."""
    match = _RANGE.search(pattern)
    if not match:
        return [pattern]
    start, end = match.group(1), match.group(2)
    width = len(start) if start.startswith("0") else 0
    head, tail = pattern[: match.start()], pattern[match.end():]
    return [name for n in range(int(start), int(end) + 1) for name in _expand(f"{head}{n:0{width}d}{tail}")]


# --- INI ----------------------------------------------------------------------------------------------------------


def parse_ini_inventory(text: str, path: Path) -> Inventory:
    """Ansible INI inventory: [group], [group:children], [group:vars], `host k=v ...` lines."""
    draft = _Draft()
    draft.group("ungrouped")
    group, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if not line:
            continue
        if line.startswith("["):
            group, kind = _section(line, path, number)
            draft.group(group)
        elif kind == "children":
            _check_name(line, path, number)
            draft.children[group].append((line, number))
        elif kind == "vars":
            key, value = _assignment(line, path, number)
            draft.vars[group][key] = value
        else:
            _host_line(draft, group, line, path, number)
    if not draft.hosts["ungrouped"] and not draft.children["ungrouped"]:
        for table in (draft.hosts, draft.children, draft.vars):
            del table["ungrouped"]
    return draft.finish(path)


def _strip_comment(raw: str) -> str:
    line = raw.strip()
    if line.startswith(("#", ";")):
        return ""
    return re.split(r"\s+[#;]", line, maxsplit=1)[0].strip()


def _section(line: str, path: Path, number: int) -> tuple[str, str]:
    if not line.endswith("]"):
        raise ConfigError(f"{path}:{number}: malformed section header {line!r}", "write it as `[group]`")
    name, _, kind = line[1:-1].strip().partition(":")
    kind = kind or "hosts"
    if kind not in ("hosts", "children", "vars"):
        raise ConfigError(f"{path}:{number}: unknown section kind `:{kind}`",
                          "use [group], [group:children] or [group:vars]")
    _check_name(name, path, number)
    return name, kind


def _check_name(name: str, path: Path, number: int) -> None:
    if not _GROUP_NAME.match(name):
        raise ConfigError(f"{path}:{number}: invalid group name {name!r}",
                          "use letters, digits, `_`, `-` and `.`, starting with a letter")


def _assignment(token: str, path: Path, number: int) -> tuple[str, str]:
    key, sep, value = token.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"{path}:{number}: expected `name=value`, got {token!r}", "write variables as name=value")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return key, value


def _host_line(draft: _Draft, group: str, line: str, path: Path, number: int) -> None:
    try:
        tokens = shlex.split(line)
    except ValueError as exc:
        raise ConfigError(f"{path}:{number}: {exc}", "close the quote") from None
    name, *assignments = tokens
    host_vars = dict(_assignment(t, path, number) for t in assignments)
    for host in _expand(name):
        draft.hosts[group].setdefault(host, {}).update(host_vars)


# --- YAML -------------------------------------------------------------------------------------------------------


def parse_yaml_inventory(text: str, path: Path) -> Inventory:
    """Ansible YAML inventory: `all: {hosts: {...}, vars: {...}, children: {group: {...}}}`."""
    located = mapping_from_text(text, path)
    draft = _Draft()
    for name, body in located.data.items():
        _yaml_group(draft, located, (name,), name, body)
    return draft.finish(path)


def _yaml_group(draft: _Draft, located: Located, loc: tuple[str, ...], name: str, body: Any) -> None:
    _check_name(name, located.path, located.line_of(loc))
    draft.group(name)
    body = body or {}
    if not isinstance(body, dict):
        raise _yaml_error(located, loc, "a group must be a mapping with hosts, vars and children")
    for key in body:
        if key not in ("hosts", "vars", "children"):
            raise _yaml_error(located, (*loc, key), f"unknown group key `{key}` (expected hosts, vars or children)")
    for host, host_vars in _mapping(located, (*loc, "hosts"), body.get("hosts")).items():
        values = _mapping(located, (*loc, "hosts", host), host_vars)
        for expanded in _expand(str(host)):
            draft.hosts[name][expanded] = {str(k): str(v) for k, v in values.items()}
    draft.vars[name].update({str(k): str(v) for k, v in _mapping(located, (*loc, "vars"), body.get("vars")).items()})
    for kid, kid_body in _mapping(located, (*loc, "children"), body.get("children")).items():
        draft.children[name].append((str(kid), located.line_of((*loc, "children", kid))))
        _yaml_group(draft, located, (*loc, "children", str(kid)), str(kid), kid_body)


def _mapping(located: Located, loc: tuple[str, ...], value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _yaml_error(located, loc, f"expected a mapping, got {type(value).__name__}")
    return value


def _yaml_error(located: Located, loc: tuple[str, ...], message: str) -> ConfigError:
    return ConfigError(f"{located.where_path(loc)}: {message}", "see etc/berth/multinode for the format")
