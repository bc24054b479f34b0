"""YAML files with positions, so every problem can be reported as file:line:column.

PyYAML's composed node tree keeps the start mark of every key; we record the line of every nested key path
(`image_packages.keystone.append`) so a problem deep inside a mapping points at its own line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from berth.errors import ConfigError

KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class Located:
    """A parsed YAML mapping plus the line of each top-level key (1-based) and of every nested key path."""

    path: Path
    data: dict[str, Any]
    lines: dict[str, int]
    paths: dict[KeyPath, int] = field(default_factory=dict)

    def where(self, key: str | None = None) -> str:
        line = self.lines.get(key or "", 0)
        return f"{self.path}:{line}" if line else str(self.path)

    def line_of(self, loc: Sequence[str | int]) -> int:
        """Line of the deepest known prefix of `loc` (0 when nothing is known)."""
        parts = tuple(str(p) for p in loc)
        for end in range(len(parts), 0, -1):
            line = self.paths.get(parts[:end]) or (self.lines.get(parts[0]) if end == 1 else None)
            if line:
                return line
        return 0

    def where_path(self, loc: Sequence[str | int]) -> str:
        """`file:line` of a nested key path such as ("image_packages", "keystone", "append")."""
        line = self.line_of(loc)
        return f"{self.path}:{line}" if line else str(self.path)


def _collect(node: yaml.Node, prefix: KeyPath, out: dict[KeyPath, int]) -> None:
    """Record the line of every mapping key and sequence item below `node`."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                path = (*prefix, str(key.value))
                out.setdefault(path, key.start_mark.line + 1)
                _collect(value, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = (*prefix, str(index))
            out.setdefault(path, item.start_mark.line + 1)
            _collect(item, path, out)


def parse_yaml(text: str, path: Path) -> tuple[Any, yaml.Node | None]:
    """Data and node tree of `text`; malformed YAML raises ConfigError at file:line:column."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        context = ""
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            start = exc.context_mark
            context = f" ({exc.context} started at {path}:{start.line + 1}:{start.column + 1})"
        raise ConfigError(
            f"{path}{pos}: malformed YAML: {exc.problem or exc}{context}",
            "fix the syntax at that position (indentation, a missing ':' or an unclosed quote)",
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}", "fix the syntax of the file") from exc
    return data, node


def mapping_from_text(text: str, path: Path) -> Located:
    """Parse YAML text whose top level must be a mapping; empty text gives {}."""
    data, node = parse_yaml(text, path)
    if data is None:
        return Located(path, {}, {})
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{path}:1: expected a mapping of `key: value` lines, found {type(data).__name__}",
                          "write one `key: value` per line")
    paths: dict[KeyPath, int] = {}
    _collect(node, (), paths)
    lines = {p[0]: line for p, line in paths.items() if len(p) == 1}
    return Located(path, {str(k): v for k, v in data.items()}, lines, paths)


def load_mapping(path: Path, *, missing_ok: bool = True) -> Located:
    """Parse a YAML file whose top level must be a mapping; empty or missing files give {}."""
    if not path.exists():
        if missing_ok:
            return Located(path, {}, {})
        raise ConfigError(f"{path} does not exist", "create it (see `berth --help` for the command that writes it)")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", "check the file's permissions") from exc
    return mapping_from_text(text, path)
