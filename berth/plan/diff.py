"""Field and file differences, with every secret value masked before it can reach a terminal or a file."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

from berth.config.passwords import MASK, mask
from berth.plan.model import FieldChange, FileDiff
from berth.state.hashing import canonical_json

__all__ = ["MASK", "field_changes", "file_diffs", "mask"]


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any], secrets: Collection[str]) -> tuple[FieldChange, ...]:
    """Top-level fields of two container definitions that differ, values as masked compact JSON."""
    out = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            out.append(FieldChange(name, _show(old.get(name), secrets), _show(new.get(name), secrets)))
    return tuple(out)


def _show(value: Any, secrets: Collection[str]) -> str:
    return "-" if value is None else mask(canonical_json(value), secrets)


def file_diffs(old: Mapping[str, str], new: Mapping[str, str], secrets: Collection[str]) -> tuple[FileDiff, ...]:
    """A masked unified diff per config file that was added, removed or changed."""
    out = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        lines = difflib.unified_diff(
            mask(before or "", secrets).splitlines(keepends=True),
            mask(after or "", secrets).splitlines(keepends=True),
            fromfile=f"a/{name}" if before is not None else "/dev/null",
            tofile=f"b/{name}" if after is not None else "/dev/null",
            n=1,
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        out.append(FileDiff(name, text or "(only masked values changed)\n"))
    return tuple(out)
