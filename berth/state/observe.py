"""Collect facts from the engine with a handful of list calls (no per-container inspect), fast enough
that a no-op deploy is dominated by rendering, not by the engine."""

from __future__ import annotations

import json
from pathlib import Path

from berth.engine import labels
from berth.engine.base import ContainerInfo, Engine, ImageInfo, VolumeInfo
from berth.state.actual import ActualContainer, ActualState
from berth.state.store import StateStore

# The version of `berth observe --json`'s document (what a deployment host reads back from each host); bump when its
# shape changes: the deployment host refuses other versions instead of planning against a misread host.
OBSERVATION_VERSION = 2  # 2: `extra` (the rest of HostFacts) with --facts


def config_root(deployment_dir: Path) -> Path:
    return deployment_dir / "config"


def observe(engine: Engine, deployment: str, deployment_dir: Path) -> ActualState:
    """Containers and volumes labelled with this deployment, every image reference, and the state file."""
    selector = {labels.DEPLOYMENT: deployment}
    rows = engine.containers(selector)
    images = engine.images()
    volumes = engine.volumes(selector)
    state = StateStore(deployment_dir).read()
    containers = tuple(_container(row, state["applied"], config_root(deployment_dir)) for row in rows)
    return ActualState(
        deployment=deployment,
        containers=tuple(sorted(containers, key=lambda c: c.name)),
        images=image_refs(images),
        volumes={v.name: volume_identity(v) for v in volumes},
        stamps=dict(state["stamps"]),
        pins=dict(state["pins"]),
    )


def volume_identity(volume: VolumeInfo) -> str:
    """Stable identity of a volume (the engine's CreatedAt of local volumes moves, so it cannot be used)."""
    return volume.labels.get(labels.VOLUME_ID) or volume.created_at


def image_refs(images: list[ImageInfo]) -> dict[str, str]:
    refs: dict[str, str] = {}
    for image in images:
        for tag in image.tags:
            if tag != "<none>:<none>":
                refs[tag] = image.id
    return refs


def _container(row: ContainerInfo, applied: dict[str, str], root: Path) -> ActualContainer:
    lab = row.labels
    key = lab.get(labels.CONTAINER, "")
    try:
        spec = json.loads(lab.get(labels.SPEC, "{}"))
    except ValueError:
        spec = {}
    role = lab.get(labels.ROLE, "service")
    return ActualContainer(
        id=row.id,
        name=row.name,
        key=key,
        service=lab.get(labels.SERVICE, ""),
        role=role,
        image_id=row.image_id,
        spec_hash=lab.get(labels.SPEC_HASH, ""),
        config_hash=applied.get(row.id, lab.get(labels.CONFIG_HASH, "")),
        spec=spec,
        state=row.state,
        health=row.health,
        status_text=row.status_text,
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
