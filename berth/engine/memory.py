"""An in-memory `Engine` for unit tests: containers with states, images, volumes, and a record of every call.

Behaviour is scripted per image reference (the old and the new container of a swap share a name but not an
image): `health[image]` is the exit status of the `berth-health` probe (default 0), `crash[image]` makes a
started container exit at once with that status, `logs[image]` is what its containers log. `on_start` and
`on_exec` hooks cover anything else. `calls` lists ("start", name), ("rename", old, new), ... with container
names as they were at the time of the call, so tests assert "engine calls out" readably.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from berth.engine.base import (
    ContainerInfo,
    EngineInfo,
    EngineVersion,
    ExecResult,
    ImageInfo,
    Labels,
    NetworkInfo,
    StreamEvent,
    VolumeInfo,
)
from berth.errors import EngineError, EngineNotFound, EngineRefused

Call = tuple[Any, ...]


@dataclass
class MemoryContainer:
    id: str
    name: str
    image: str  # the reference (or id) it was created from
    spec: Mapping[str, Any]
    labels: dict[str, str]
    state: str = "created"
    exit_code: int = 0
    restart_count: int = 0
    log: str = ""

    def info(self, images: Mapping[str, ImageInfo]) -> ContainerInfo:
        image = images.get(self.image)
        return ContainerInfo(self.id, self.name, dict(self.labels), self.state, None, self.exit_code,
                             self.restart_count, image.id if image else self.image, self.state)


@dataclass
class MemoryEngine:
    """Deterministic ids (c1, c2, ...); every method records its call before acting."""

    images_by_ref: dict[str, ImageInfo] = field(default_factory=dict)
    volumes_by_name: dict[str, VolumeInfo] = field(default_factory=dict)
    networks_by_id: dict[str, NetworkInfo] = field(default_factory=dict)
    health: dict[str, int] = field(default_factory=dict)
    crash: dict[str, int] = field(default_factory=dict)
    logs_by_image: dict[str, str] = field(default_factory=dict)
    on_start: Callable[[MemoryEngine, MemoryContainer], None] | None = None
    on_exec: Callable[[MemoryContainer, list[str]], ExecResult | None] | None = None
    calls: list[Call] = field(default_factory=list)
    by_id: dict[str, MemoryContainer] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    # --- test helpers ---
    def add_image(self, ref: str, image_id: str | None = None, labels: Labels | None = None) -> ImageInfo:
        found = ImageInfo(image_id or f"sha256:{ref}", (ref,), dict(labels or {}))
        self.images_by_ref[ref] = found
        return found

    def add_container(self, name: str, image: str, labels: Labels | None = None, state: str = "running",
                      spec: Mapping[str, Any] | None = None) -> ContainerInfo:
        """A container that exists before the test (not recorded as a call)."""
        box = MemoryContainer(f"c{next(self._ids)}", name, image, dict(spec or {"image": image}),
                              dict(labels or {}), state)
        self.by_id[box.id] = box
        return box.info(self.images_by_ref)

    def named(self, name: str) -> MemoryContainer | None:
        return next((c for c in self.by_id.values() if c.name == name), None)

    def states(self) -> dict[str, tuple[str, str]]:
        """name -> (image, state): the final containers, for data-driven assertions."""
        return {c.name: (c.image, c.state) for c in sorted(self.by_id.values(), key=lambda c: c.name)}

    def _get(self, ident: str) -> MemoryContainer:
        found = self.by_id.get(ident) or self.named(ident)
        if found is None:
            raise EngineNotFound(f"no such container: {ident}", explanation=f"No such container: {ident}")
        return found

    def _call(self, verb: str, *args: Any) -> None:
        self.calls.append((verb, *args))

    # --- the engine ---
    def ping(self) -> None:
        self._call("ping")

    def version(self) -> EngineVersion:
        return EngineVersion("26.1.5", "1.45")

    def info(self) -> EngineInfo:
        return EngineInfo("/var/lib/docker")

    def close(self) -> None:
        pass

    # --- containers ---
    def containers(self, labels: Labels | None = None, *, running_only: bool = False) -> list[ContainerInfo]:
        want = dict(labels or {})
        return [c.info(self.images_by_ref) for c in self.by_id.values()
                if want.items() <= c.labels.items() and (c.state == "running" or not running_only)]

    def container(self, ident: str) -> ContainerInfo | None:
        found = self.by_id.get(ident) or self.named(ident)
        return found.info(self.images_by_ref) if found else None

    def create_container(self, name: str, spec: Mapping[str, Any], labels: Labels) -> ContainerInfo:
        self._call("create", name, spec["image"])
        if self.named(name) is not None:
            raise EngineRefused(f"the name {name} is in use", explanation=f"Conflict: the name {name} is in use")
        box = MemoryContainer(f"c{next(self._ids)}", name, str(spec["image"]), dict(spec), dict(labels))
        self.by_id[box.id] = box
        return box.info(self.images_by_ref)

    def start(self, ident: str) -> None:
        box = self._get(ident)
        self._call("start", box.name)
        box.state, box.log = "running", box.log + self.logs_by_image.get(box.image, "")
        if box.image in self.crash:
            box.state, box.exit_code = "exited", self.crash[box.image]
        if self.on_start is not None:
            self.on_start(self, box)

    def stop(self, ident: str, timeout: int) -> None:
        box = self._get(ident)
        self._call("stop", box.name)
        if box.state == "running":
            box.state, box.exit_code = "exited", 0

    def restart(self, ident: str, timeout: int) -> None:
        box = self._get(ident)
        self._call("restart", box.name)
        box.state = "running"

    def rename(self, ident: str, name: str) -> None:
        box = self._get(ident)
        self._call("rename", box.name, name)
        if self.named(name) is not None:
            raise EngineRefused(f"the name {name} is in use", explanation=f"Conflict: the name {name} is in use")
        box.name = name

    def remove(self, ident: str, force: bool = True) -> None:
        box = self._get(ident)
        self._call("remove", box.name)
        del self.by_id[box.id]

    def exec(self, ident: str, argv: list[str], env: Mapping[str, str] | None = None) -> ExecResult:
        box = self._get(ident)
        self._call("exec", box.name, argv[0])
        if box.state != "running":
            raise EngineRefused(f"container {box.name} is not running", explanation="container is not running")
        scripted = self.on_exec(box, argv) if self.on_exec else None
        if scripted is not None:
            return scripted
        if argv[0] == "berth-health":
            code = self.health.get(box.image, 0)
            return ExecResult(code, "" if code == 0 else "connection refused")
        return ExecResult(0, "")

    def exec_streamed(self, ident: str, argv: list[str], write: Callable[[bytes], object]) -> ExecResult:
        result = self.exec(ident, argv)
        write(result.output.encode())
        return ExecResult(result.code, "")

    def logs(self, ident: str, tail: int | None = None) -> str:
        lines = self._get(ident).log.splitlines(keepends=True)
        return "".join(lines[-tail:] if tail else lines)

    def stream_logs(self, ident: str, tail: int | None, follow: bool) -> Iterator[bytes]:
        yield self.logs(ident, tail).encode()

    def wait(self, ident: str, timeout: float) -> int:
        box = self._get(ident)
        self._call("wait", box.name)
        if box.state == "running":
            box.state = "exited"
        return box.exit_code

    def put_archive(self, ident: str, path: str, data: bytes) -> None:
        self._call("put_archive", self._get(ident).name, path)

    # --- images ---
    def image(self, ref: str) -> ImageInfo | None:
        return self.images_by_ref.get(ref) or next((i for i in self.images_by_ref.values() if i.id == ref), None)

    def images(self, label: str | None = None) -> list[ImageInfo]:
        key, _, value = (label or "").partition("=")
        unique = {i.id: i for i in self.images_by_ref.values()}
        return [i for i in unique.values() if not key or (key in i.labels and (not value or i.labels[key] == value))]

    def pull(self, ref: str) -> ImageInfo:
        self._call("pull", ref)
        raise EngineRefused(f"pull access denied for {ref}", explanation=f"pull access denied for {ref}")

    def push(self, ref: str) -> Iterator[StreamEvent]:
        self._call("push", ref)
        yield StreamEvent(f"pushed {ref}")

    def tag(self, image: str, ref: str) -> None:
        self._call("tag", image, ref)
        found = self.image(image)
        if found is None:
            raise EngineNotFound(f"no such image: {image}", explanation=f"No such image: {image}")
        self.images_by_ref[ref] = dataclasses.replace(found, tags=(*found.tags, ref))

    def remove_image(self, ref: str, force: bool = False) -> None:
        self._call("remove_image", ref)
        if self.images_by_ref.pop(ref, None) is None:
            raise EngineNotFound(f"no such image: {ref}", explanation=f"No such image: {ref}")

    def build(self, context: IO[bytes], tag: str, labels: Labels, nocache: bool = False) -> Iterator[StreamEvent]:
        self._call("build", tag)
        self.add_image(tag, labels=labels)
        yield StreamEvent(f"Successfully tagged {tag}")

    def import_image(self, tar: IO[bytes], ref: str, changes: list[str]) -> None:
        self._call("import_image", ref)
        self.add_image(ref)

    def save_images(self, refs: list[str]) -> Iterator[bytes]:
        raise EngineError("the in-memory engine cannot save images")

    def load_images(self, chunks: Iterable[bytes]) -> Iterator[StreamEvent]:
        raise EngineError("the in-memory engine cannot load images")

    # --- volumes and networks ---
    def volumes(self, labels: Labels | None = None) -> list[VolumeInfo]:
        want = dict(labels or {}).items()
        return [v for v in self.volumes_by_name.values() if want <= v.labels.items()]

    def volume(self, name: str) -> VolumeInfo | None:
        return self.volumes_by_name.get(name)

    def create_volume(self, name: str, labels: Labels) -> VolumeInfo:
        self._call("create_volume", name)
        self.volumes_by_name[name] = VolumeInfo(name, dict(labels), "2026-01-01T00:00:00Z")
        return self.volumes_by_name[name]

    def remove_volume(self, name: str, force: bool = False) -> None:
        self._call("remove_volume", name)
        if self.volumes_by_name.pop(name, None) is None:
            raise EngineNotFound(f"no such volume: {name}", explanation=f"get {name}: no such volume")

    def networks(self, labels: Labels | None = None) -> list[NetworkInfo]:
        want = dict(labels or {}).items()
        return [n for n in self.networks_by_id.values() if want <= n.labels.items()]

    def remove_network(self, ident: str) -> None:
        self._call("remove_network", ident)
        if self.networks_by_id.pop(ident, None) is None:
            raise EngineNotFound(f"no such network: {ident}", explanation=f"network {ident} not found")


if TYPE_CHECKING:
    from berth.engine.base import Engine

    _CONFORMS: type[Engine] = MemoryEngine
