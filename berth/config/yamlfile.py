"""YAML files with positions, so every problem can be reported as file:line:column."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from berth.errors import ConfigError


@dataclass(frozen=True)
class Located:
    """A parsed YAML mapping plus the line of each top-level key (1-based)."""

    path: Path
    data: dict[str, Any]
    lines: dict[str, int]

    def where(self, key: str | None = None) -> str:
        line = self.lines.get(key or "", 0)
        return f"{self.path}:{line}" if line else str(self.path)


def load_mapping(path: Path, *, missing_ok: bool = True) -> Located:
    """Parse a YAML file whose top level must be a mapping; empty or missing files give {}."""
    if not path.exists():
        if missing_ok:
            return Located(path, {}, {})
        raise ConfigError(f"{path} does not exist", f"create it (see `berth --help` for the command that writes it)")
    text = path.read_text()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(
            f"{path}{pos}: malformed YAML: {exc.problem or exc}",
            "fix the syntax at that position (indentation, a missing ':' or an unclosed quote)",
        ) from exc
    if data is None:
        return Located(path, {}, {})
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{path}:1: expected a mapping of `key: value` lines, found {type(data).__name__}",
                          "write one `key: value` per line")
    lines = {str(k.value): k.start_mark.line + 1 for k, _v in node.value if isinstance(k, yaml.ScalarNode)}
    return Located(path, {str(k): v for k, v in data.items()}, lines)
