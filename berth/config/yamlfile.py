"""YAML files with positions, so every problem can be reported as file:line:column.

PyYAML's composed node tree keeps the start mark of every key; we record the line of every nested key path
(`image_packages.keystone.append`) so a problem deep inside a mapping points at its own line.
"""

from __future__ import annotations

import errno
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


MAX_NODES = 100_000  # a configuration file is far smaller; anchors that expand beyond this are an attack or a bug


def parse_yaml(text: str, path: Path) -> tuple[Any, yaml.Node | None]:
    """Data and node tree of `text`; malformed YAML, a key given twice in one mapping, and anchors that refer to
    themselves or expand beyond MAX_NODES raise ConfigError at file:line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _check_size(node, path)
            _check_duplicates(node, path, set())
        loader = yaml.SafeLoader("")
        data = loader.construct_document(node) if node is not None else None
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
    except RecursionError:
        raise ConfigError(f"{path}: malformed YAML: nested too deeply", "flatten the structure") from None
    return data, node


def _check_size(root: yaml.Node, path: Path) -> None:
    """Refuse anchors and aliases that refer to themselves or expand to more than MAX_NODES nodes (a few lines of
    aliases can stand for billions of values): counted on the node graph, without expanding it."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ConfigError(f"{path}:{node.start_mark.line + 1}: an alias refers to the node that contains it",
                              "remove the self-referring anchor (&name) or alias (*name)")
        open_.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_NODES:
                raise ConfigError(f"{path}:{node.start_mark.line + 1}: its anchors and aliases expand to more than "
                                  f"{MAX_NODES:,} values", "write the values out instead of nesting aliases")
        open_.discard(key)
        sizes[key] = total
        return total

    size(root)


def _check_duplicates(node: yaml.Node, path: Path, seen: set[int]) -> None:
    """A key given twice in one mapping is an error naming both lines (YAML loaders keep the last one silently)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                line = key.start_mark.line + 1
                if key.value in first:
                    raise ConfigError(f"{path}:{line}: key {key.value!r} is given twice in this mapping (first at "
                                      f"line {first[key.value]})", "keep one of the two lines")
                first[key.value] = line
            _check_duplicates(value, path, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicates(item, path, seen)


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
    if not path.exists() and not path.is_symlink():
        if missing_ok:
            return Located(path, {}, {})
        raise ConfigError(f"{path} does not exist", "create it (see `berth --help` for the command that writes it)")
    return mapping_from_text(read_text(path), path)


def read_text(path: Path) -> str:
    """A configuration file's text: a directory, a symlink loop, an unreadable, binary or non-UTF-8 file is an
    error that says which and where."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, expected a file", "replace it with the file (or remove it)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = "a symlink loop" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        raise ConfigError(f"{path}: cannot read: {reason}", "check the file, its links and its permissions") \
            from None
    if b"\0" in raw:
        line = raw[:raw.index(b"\0")].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: a binary file (NUL byte), expected text",
                          "point berth at the text file, or write it anew")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start})",
                          "save the file as UTF-8") from None
