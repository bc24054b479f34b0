"""Operator overrides under <config-dir>/config/<service>/, merged into the files berth generates.

Layers, later wins: service-wide, per container, per host, per host and container. INI files merge option by
option, YAML files by deep merge, anything else is replaced by the last layer. A file that nothing reads is an
error naming the nearest valid path, because a silently ignored override is the worst kind of misconfiguration.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from berth.config.yamlfile import parse_yaml, read_text
from berth.errors import ConfigError

INI_SUFFIXES = (".conf", ".ini", ".cfg")
GENERATED = "<generated file>"
VALUELESS = re.compile(r"[A-Za-z0-9_.-]+")  # an option without a value (my.cnf's skip-name-resolve): one word
YAML_SUFFIXES = (".yml", ".yaml")
OVERRIDES_DIR = "config"
HOST_DIR = "host"


def override_paths(config_dir: Path, service: str, container: str, host: str, filename: str) -> list[Path]:
    """Existing override files for one generated file, in layer order (later wins)."""
    root = config_dir / OVERRIDES_DIR / service
    layers = [
        root / filename,
        root / container / filename,
        root / HOST_DIR / host / filename,
        root / HOST_DIR / host / container / filename,
    ]
    return [p for p in layers if p.is_file()]


def apply_overrides(config_dir: Path, service: str, container: str, host: str, filename: str, rendered: str) -> str:
    """`rendered` with every override layer merged in (INI / YAML by extension, else the last layer wins)."""
    layers = [(p, _read(p)) for p in override_paths(config_dir, service, container, host, filename)]
    if not layers:
        return rendered
    suffix = Path(filename).suffix
    if suffix in INI_SUFFIXES:
        return merge_ini(rendered, layers)
    if suffix in YAML_SUFFIXES:
        return merge_yaml(rendered, layers)
    return layers[-1][1]


def _read(path: Path) -> str:
    return read_text(path)


# --- INI ---------------------------------------------------------------------------------------------------------


@dataclass
class _Option:
    key: str
    lines: list[str]  # the option line and its continuation lines, as written


@dataclass
class _Section:
    name: str | None  # None: lines before the first section header
    items: list[_Option | str] = field(default_factory=list)  # options, comments and blank lines

    def option_indexes(self, key: str) -> list[int]:
        return [i for i, item in enumerate(self.items) if isinstance(item, _Option) and item.key == key]

    def insert_point(self) -> int:
        """After the last option, so trailing comments and blank lines stay at the end of the section."""
        last = [i for i, item in enumerate(self.items) if isinstance(item, _Option)]
        return last[-1] + 1 if last else len(self.items)


def _parse_ini(text: str, origin: str, *, allow_sectionless: bool) -> list[_Section]:
    """Line-preserving INI parse (duplicate options kept, case kept); errors at `origin`:line."""
    sections = [_Section(None)]
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        current = sections[-1]
        if not stripped or stripped.startswith(("#", ";")):
            current.items.append(line)
        elif stripped.startswith("["):
            if not stripped.endswith("]") or not stripped[1:-1].strip():
                raise ConfigError(f"{origin}:{number}: malformed section header {stripped!r}",
                                  "write section headers as `[name]`")
            sections.append(_Section(stripped[1:-1].strip(), [line]))
        elif line[:1] in (" ", "\t") and current.items and isinstance(current.items[-1], _Option):
            current.items[-1].lines.append(line)  # continuation of a multi-line value
        else:
            key = _option_key(stripped, origin, number)
            if current.name is None and not allow_sectionless:
                raise ConfigError(f"{origin}:{number}: option `{key}` is outside any section",
                                  "put a section header such as `[DEFAULT]` above it")
            current.items.append(_Option(key, [stripped]))
    return sections


def _option_key(stripped: str, origin: str, number: int) -> str:
    cut = min((i for i in (stripped.find("="), stripped.find(":")) if i >= 0), default=-1)
    if cut < 0 and origin != GENERATED and not VALUELESS.fullmatch(stripped):
        raise ConfigError(f"{origin}:{number}: not an option, a section header or a comment: {stripped[:60]!r}",
                          "write options as `name = value` (a valueless option is one word, e.g. "
                          "`skip-name-resolve`), or start the line with `#` to keep it as a comment")
    key = stripped[:cut if cut >= 0 else len(stripped)].strip()
    if not key:
        raise ConfigError(f"{origin}:{number}: option without a name: {stripped!r}", "write options as `name = value`")
    return key


def _render_ini(sections: list[_Section]) -> str:
    lines: list[str] = []
    for section in sections:
        for item in section.items:
            lines.extend(item.lines if isinstance(item, _Option) else [item])
    return "\n".join(lines) + "\n" if lines else ""


def _overlay(base: list[_Section], layer: list[_Section]) -> None:
    """Merge one override layer into `base` in place: every option it sets replaces all base occurrences."""
    wanted: dict[str | None, dict[str, list[_Option]]] = {}
    for section in layer:
        for item in section.items:
            if isinstance(item, _Option):  # options before any header only parse when the base is flat
                wanted.setdefault(section.name, {}).setdefault(item.key, []).append(item)
    for name, options in wanted.items():
        target = next((s for s in base if s.name == name), None)
        if target is None:
            target = _Section(name, [f"[{name}]"])
            if base and base[-1].items and base[-1].items[-1] != "":
                base[-1].items.append("")
            base.append(target)
        for key, values in options.items():
            _replace(target, key, values)


def _replace(section: _Section, key: str, values: list[_Option]) -> None:
    found = section.option_indexes(key)
    at = found[0] if found else section.insert_point()
    for index in reversed(found):
        del section.items[index]
    section.items[at:at] = [_Option(v.key, list(v.lines)) for v in values]


def merge_ini(base: str, overrides: list[tuple[Path, str]]) -> str:
    """Option-level merge: later layers win; new sections and options are added; base comments are kept.

    A base without any section header is a flat `key = value` file; its overrides are flat too.
    """
    if not overrides:
        return base
    sections = _parse_ini(base, GENERATED, allow_sectionless=True)
    flat = len(sections) == 1  # no section header at all: a plain `key = value` file (libvirtd.conf, qemu.conf)
    for path, text in overrides:
        _overlay(sections, _parse_ini(text, str(path), allow_sectionless=flat))
    return _render_ini(sections)


# --- YAML --------------------------------------------------------------------------------------------------------


def deep_merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key, recursively; anything else (lists included) is replaced by the override."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return override


def merge_yaml(base: str, overrides: list[tuple[Path, str]]) -> str:
    """Deep merge of mappings (lists replaced); a malformed override is reported at file:line:column."""
    if not overrides:
        return base
    data, _node = parse_yaml(base, Path("<generated file>"))
    for path, text in overrides:
        layer, _node = parse_yaml(text, path)
        if layer is not None:
            data = deep_merge(data, layer)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)


# --- checking paths ----------------------------------------------------------------------------------------------


def valid_override_paths(config_dir: Path, readable: set[tuple[str, str, str]], hosts: set[str]) -> set[Path]:
    """Every path an override may live at, given the (service, container, filename) files something reads."""
    root = config_dir / OVERRIDES_DIR
    valid = set()
    for service, container, filename in readable:
        valid.add(root / service / filename)
        valid.add(root / service / container / filename)
        for host in hosts:
            valid.add(root / service / HOST_DIR / host / filename)
            valid.add(root / service / HOST_DIR / host / container / filename)
    return valid


def check_override_paths(config_dir: Path, readable: set[tuple[str, str, str]], hosts: set[str]) -> list[str]:
    """A problem for every file under <config-dir>/config/ that nothing reads, naming the nearest valid path."""
    root = config_dir / OVERRIDES_DIR
    if not root.is_dir():
        return []
    valid = sorted(str(p) for p in valid_override_paths(config_dir, readable, hosts))
    problems = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if str(path) in valid:
            continue
        near = difflib.get_close_matches(str(path), valid, n=1, cutoff=0.0)
        hint = f"; did you mean {near[0]}?" if near else " (no service reads any override file)"
        problems.append(f"{path}: nothing reads this file{hint}")
    return problems
