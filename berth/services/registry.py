"""Finding service folders. Adding a service means adding a folder here; nothing else changes."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

SERVICES_DIR = Path(__file__).resolve().parent
# Template pieces every service can use (openstack.j2 macros, berth-rpc-health.py.j2): searched after the
# service's own templates/ folder. `_shared` has neither service.yml nor images/, so it is not a service.
SHARED_TEMPLATES = SERVICES_DIR / "_shared" / "templates"


def service_dirs() -> dict[str, Path]:
    """Every service folder (one holding a service.yml or an images/ folder), by name."""
    found = {}
    for path in sorted(SERVICES_DIR.iterdir()):
        if path.is_dir() and ((path / "service.yml").is_file() or (path / "images").is_dir()):
            found[path.name.replace("_", "-")] = path
    return found


def service_names() -> list[str]:
    return list(service_dirs())


@cache
def service_meta(name: str) -> dict[str, Any]:
    """The raw service.yml of a service ({} when the folder only has images)."""
    path = service_dirs()[name] / "service.yml"
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return data if isinstance(data, dict) else {}


def default_enabled(name: str) -> bool:
    """Whether `enable_<name>` defaults to true (service.yml: `enabled_by_default`, default true)."""
    return bool(service_meta(name).get("enabled_by_default", True))


def enable_key(name: str) -> str:
    return "enable_" + name.replace("-", "_")
