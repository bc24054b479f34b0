"""Facts about the host operating system, read from files so they can be tested on any machine."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from berth.errors import HostError

SUPPORTED = ("debian", "ubuntu")


@dataclass(frozen=True)
class OsInfo:
    id: str
    version_id: str
    pretty_name: str
    id_like: tuple[str, ...] = ()

    @property
    def family(self) -> str | None:
        """'debian' for Debian, Ubuntu and their derivatives; None otherwise."""
        for name in (self.id, *self.id_like):
            if name in SUPPORTED:
                return "debian"
        return None


def parse_os_release(text: str) -> OsInfo:
    values: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, raw = line.partition("=")
            parts = shlex.split(raw) if raw.strip() else [""]
            values[key.strip()] = parts[0] if parts else ""
    return OsInfo(
        id=values.get("ID", "unknown").lower(),
        version_id=values.get("VERSION_ID", ""),
        pretty_name=values.get("PRETTY_NAME", values.get("ID", "unknown")),
        id_like=tuple(values.get("ID_LIKE", "").lower().split()),
    )


def read_os_info(path: Path = Path("/etc/os-release")) -> OsInfo:
    if not path.exists():
        raise HostError(f"{path} is missing: cannot tell which distribution this is",
                        "berth supports Debian 12 and Ubuntu 22.04+ hosts")
    return parse_os_release(path.read_text())


def require_supported(info: OsInfo) -> None:
    if info.family is None:
        raise HostError(f"unsupported distribution: {info.pretty_name}",
                        "berth bootstrap-host supports Debian and Ubuntu hosts; install Docker by hand elsewhere")


def require_root() -> None:
    if os.geteuid() != 0:
        raise HostError("bootstrap-host must run as root (it installs packages and starts the Docker engine)",
                        "run it again with sudo, or as root")


def systemd_running() -> bool:
    """systemd as PID 1 creates /run/systemd/system (the documented sd_booted() test)."""
    return Path("/run/systemd/system").is_dir()
