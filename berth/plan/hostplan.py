"""The unit a host applies: one host's plan with everything needed to carry it out, as a versioned value.

A `HostPlan` holds the host's desired containers (specs with image references, rendered files, health checks),
its steps, the observed state the plan was decided from, the decisions, and the few credentials its steps use.
Applying it needs this value and the host's engine only: no configuration, no templates, no rendering. It
round-trips through JSON (`dumps`/`loads`), which is how a plan made on the deployment host reaches another host.
The JSON holds rendered config files and credentials, so files holding it are written mode 0600, and what is
shown to people goes through `masked()`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from berth.config.passwords import mask
from berth.errors import ConfigError
from berth.frozen import frozen
from berth.plan.codec import DecodeError, from_data, to_data
from berth.plan.model import Plan
from berth.private import write_private
from berth.state.actual import ActualState
from berth.state.desired import DesiredState

VERSION = 1  # bump when a field changes meaning; a host refuses plans of another version



@dataclass(frozen=True)
class HostPlan:
    deployment: str
    host: str
    deployment_dir: str  # the host's directory for config dirs, state.json and history
    desired: DesiredState  # this host's part of the deployment
    actual: ActualState  # what was observed when the plan was made (previous files, health)
    plan: Plan
    credentials: Mapping[str, Any] = field(default_factory=frozen)  # password key -> value the steps use
    keystone: Mapping[str, Any] = field(default_factory=frozen)  # admin login for registration steps
    version: int = VERSION

    def to_data(self) -> dict[str, Any]:
        return to_data(self)  # type: ignore[no-any-return]

    def dumps(self) -> str:
        return json.dumps(self.to_data(), sort_keys=True, separators=(",", ":"))

    def masked(self) -> dict[str, Any]:
        """The plan as data with every secret value replaced, for terminals and logs."""
        secrets = set(self.desired.secrets) | {str(v) for v in self.credentials.values() if v}
        return json.loads(mask(self.dumps(), secrets))  # type: ignore[no-any-return]

    def with_actual(self, actual: ActualState, plan: Plan) -> HostPlan:
        return replace(self, actual=actual, plan=plan)


def loads(text: str, source: str = "host plan") -> HostPlan:
    """A HostPlan from JSON; a clear error naming the source and the bad field when it is not one."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{source}: not JSON: {exc}", "ship the file `berth` wrote, unchanged") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        found = data.get("version") if isinstance(data, dict) else None
        raise ConfigError(f"{source}: host plan version {found!r}, this berth applies version {VERSION}",
                          "install the same berth version on the deployment host and on this host")
    try:
        return from_data(HostPlan, data)
    except DecodeError as exc:
        raise ConfigError(f"{source}: not a host plan: {exc.message}", "ship the file `berth` wrote, unchanged"
                          ) from None


def write(plan: HostPlan, path: Path) -> None:
    """Atomically, mode 0600 (rendered files and credentials inside)."""
    write_private(path, plan.dumps())


def read(path: Path) -> HostPlan:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the host plan: {exc.strerror}", "check the path") from None
    return loads(text, str(path))
