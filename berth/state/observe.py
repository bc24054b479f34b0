"""Collect facts from the engine with a handful of list calls (no per-container inspect), fast enough
that a no-op deploy is dominated by rendering, not by the engine."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import docker

from berth.engine import labels
from berth.engine.docker_engine import engine_errors
from berth.state.actual import ActualContainer, ActualState
from berth.state.store import StateStore

_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")


def config_root(deployment_dir: Path) -> Path:
    return deployment_dir / "config"


def observe(client: docker.DockerClient, deployment: str, deployment_dir: Path) -> ActualState:
    """Containers and volumes labelled with this deployment, every image reference, and the state file."""
    selector = f"{labels.DEPLOYMENT}={deployment}"
    with engine_errors("listing containers"):
        rows = client.api.containers(all=True, filters={"label": selector})
    with engine_errors("listing images"):
        images = client.api.images()
    with engine_errors("listing volumes"):
        volumes = client.api.volumes(filters={"label": selector}).get("Volumes") or []
    state = StateStore(deployment_dir).read()
    containers = tuple(_container(row, state["applied"], config_root(deployment_dir)) for row in rows)
    return ActualState(
        deployment=deployment,
        containers=tuple(sorted(containers, key=lambda c: c.name)),
        images=image_refs(images),
        volumes={v["Name"]: volume_identity(v) for v in volumes},
        stamps=dict(state["stamps"]),
    )


def volume_identity(volume: dict[str, Any]) -> str:
    """Stable identity of a volume (the engine's CreatedAt of local volumes moves, so it cannot be used)."""
    return str((volume.get("Labels") or {}).get(labels.VOLUME_ID) or volume.get("CreatedAt", ""))


def image_refs(images: list[dict[str, Any]]) -> dict[str, str]:
    refs: dict[str, str] = {}
    for image in images:
        for tag in image.get("RepoTags") or []:
            if tag != "<none>:<none>":
                refs[tag] = image["Id"]
    return refs


def _container(row: dict[str, Any], applied: dict[str, str], root: Path) -> ActualContainer:
    lab = row.get("Labels") or {}
    key = lab.get(labels.CONTAINER, "")
    status = row.get("Status", "")
    match = _HEALTH.search(status)
    health = match.group(1).replace("health: ", "") if match else None
    try:
        spec = json.loads(lab.get(labels.SPEC, "{}"))
    except ValueError:
        spec = {}
    role = lab.get(labels.ROLE, "service")
    return ActualContainer(
        id=row["Id"],
        name=(row.get("Names") or ["/"])[0].lstrip("/"),
        key=key,
        service=lab.get(labels.SERVICE, ""),
        role=role,
        image_id=row.get("ImageID", ""),
        spec_hash=lab.get(labels.SPEC_HASH, ""),
        config_hash=applied.get(row["Id"], lab.get(labels.CONFIG_HASH, "")),
        spec=spec,
        state=row.get("State", ""),
        health=health,
        status_text=status,
        files=read_config_dir(root / key) if role == "service" and key else {},
    )


def read_config_dir(path: Path) -> dict[str, str]:
    """The files berth last wrote for a container (text only; used for config diffs)."""
    out: dict[str, str] = {}
    if not path.is_dir():
        return out
    for item in sorted(path.iterdir()):
        if item.is_file():
            try:
                out[item.name] = item.read_text()
            except (OSError, UnicodeDecodeError):
                out[item.name] = ""
    return out
