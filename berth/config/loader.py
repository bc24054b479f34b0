"""Loading the whole configuration once, with every problem located."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from berth.config.globals import GlobalsBase, globals_model
from berth.config.yamlfile import Located, load_mapping
from berth.errors import ConfigError


@dataclass(frozen=True)
class Config:
    """Everything an operator configured, validated."""

    config_dir: Path
    globals: GlobalsBase
    passwords: dict[str, str] = field(default_factory=dict)
    inventory: Any = None  # berth.config.inventory.Inventory once loaded

    @property
    def overrides_dir(self) -> Path:
        return self.config_dir / "config"

    @property
    def deployment_dir(self) -> Path:
        """Generated per-container config and history of this deployment."""
        return Path(self.globals.state_dir) / self.globals.deployment_name


def validate_globals(located: Located) -> tuple[GlobalsBase | None, list[str]]:
    """The model, or None and every problem as `file:line: message (hint)`."""
    model = globals_model()
    try:
        return model.model_validate(located.data), []
    except ValidationError as exc:
        return None, [_describe(located, err, list(model.model_fields)) for err in exc.errors()]


def _describe(located: Located, err: Any, known: list[str]) -> str:
    loc = [str(p) for p in err["loc"]]
    key = loc[0] if loc else ""
    path = ".".join(loc)
    where = located.where(key)
    if err["type"] == "extra_forbidden" and len(loc) == 1:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean `{close[0]}`?" if close else "see docs/configuration.md for the known keys"
        return f"{where}: unknown key `{key}` ({hint})"
    value = err.get("input")
    return f"{where}: `{path}`: {err['msg']} (got {value!r})"


def load_config(config_dir: Path, *, inventory_path: Path | None = None) -> Config:
    """globals.yml + passwords.yml (+ inventory) from `config_dir`; raises ConfigError listing all problems."""
    located = load_mapping(config_dir / "globals.yml")
    globals_, problems = validate_globals(located)
    if problems or globals_ is None:
        raise ConfigError(
            f"{len(problems)} problem(s) in {located.path}",
            "fix the lines named above; `berth config validate` checks every file",
            details=problems,
        )
    passwords = load_mapping(config_dir / "passwords.yml").data
    return Config(config_dir=config_dir, globals=globals_,
                  passwords={k: "" if v is None else str(v) for k, v in passwords.items()})
