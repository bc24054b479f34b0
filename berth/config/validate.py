"""`berth config validate`: every configuration file checked, every problem reported at once."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.config.loader import Config, gather
from berth.config.overrides import OVERRIDES_DIR, check_override_paths
from berth.errors import BerthError

RENDER_MODULE = "berth.lifecycle.render"


@dataclass(frozen=True)
class Report:
    """Problems (configuration is invalid), warnings (valid but risky) and notes (checks that were skipped)."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": self.problems, "warnings": self.warnings, "notes": self.notes}


def validate_config(config_dir: Path, inventory_path: Path | None = None) -> Report:
    """globals.yml, passwords.yml, the inventory and the override paths of `config_dir`."""
    config, problems, warnings = gather(config_dir, inventory_path)
    notes: list[str] = []
    if config is not None:
        from berth.lifecycle.wiring import host_problems

        problems = problems + host_problems(config)
    if (config_dir / OVERRIDES_DIR).is_dir():
        if config is None:
            notes.append("override paths not checked: fix the problems above first")
        else:
            problems = problems + _override_problems(config, notes)
    return Report(problems, warnings, notes)


def _readable_files_function() -> Callable[[Config], Any] | None:
    """berth.lifecycle.render.readable_files, when this berth has it."""
    if importlib.util.find_spec("berth.lifecycle") is None or importlib.util.find_spec(RENDER_MODULE) is None:
        return None
    return getattr(importlib.import_module(RENDER_MODULE), "readable_files", None)


def _override_problems(config: Config, notes: list[str]) -> list[str]:
    readable_files = _readable_files_function()
    if readable_files is None:
        notes.append("override paths not checked: this berth cannot list the files services read yet")
        return []
    try:
        readable = set(readable_files(config))
    except BerthError as err:
        return [f"{config.overrides_dir}: cannot list the files services read: {err.message}"]
    hosts = set(config.inventory.hosts) if config.inventory is not None else set()
    return check_override_paths(config.config_dir, readable, hosts)
