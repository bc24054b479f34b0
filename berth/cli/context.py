"""What every command receives: global options, resolved once."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from berth.config.loader import Config

DEFAULT_CONFIG_DIR = Path("/etc/berth")


@dataclass
class AppContext:
    """Global options of one `berth` invocation.

    Configuration is loaded lazily so that commands which do not need it (genpwd on an empty
    directory, bootstrap-host, --help) work before any file exists.
    """

    config_dir: Path = DEFAULT_CONFIG_DIR
    inventory: Path | None = None
    verbose: int = 0
    debug: bool = False
    json: bool = False
    quiet: bool = False
    _config: Any = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        """The validated, layered configuration (raises ConfigError with every problem located)."""
        if self._config is None:
            from berth.config.loader import load_config

            self._config = load_config(self.config_dir, inventory_path=self.inventory)
        return self._config

    def echo(self, message: str = "", **kwargs: Any) -> None:
        """Human output; silent under --quiet or --json (scripts read JSON only)."""
        if not (self.quiet or self.json):
            click.echo(message, **kwargs)


def default_config_dir() -> Path:
    return Path(os.environ.get("BERTH_CONFIG_DIR", str(DEFAULT_CONFIG_DIR)))


pass_app = click.make_pass_decorator(AppContext)
