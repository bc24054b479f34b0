"""The container engine seam: the `Engine` protocol (base), the Docker implementation (docker_engine, the only
place that imports the docker SDK and translates its errors) and an in-memory one for unit tests (memory)."""

from berth.engine.base import ContainerInfo, Engine, ExecResult, ImageInfo, StreamEvent, VolumeInfo

__all__ = ["ContainerInfo", "Engine", "ExecResult", "ImageInfo", "StreamEvent", "VolumeInfo"]
