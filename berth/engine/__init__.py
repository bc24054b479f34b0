"""The container engine seam: the `Engine` protocol (base), the Docker implementation (docker_engine, the only
place that imports the docker SDK and translates its errors) and an in-memory one for unit tests (memory)."""

from __future__ import annotations

from berth.engine.base import ContainerInfo, Engine, ExecResult, ImageInfo, StreamEvent, VolumeInfo

__all__ = ["ContainerInfo", "Engine", "ExecResult", "ImageInfo", "StreamEvent", "VolumeInfo", "connect"]


def connect(timeout: int | None = None) -> Engine:
    """The local engine (Docker), verified with a ping; the SDK is imported only now (`berth --help` stays fast)."""
    from berth.engine import docker_engine

    return docker_engine.connect(docker_engine.DEFAULT_TIMEOUT if timeout is None else timeout)
