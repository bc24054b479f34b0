"""What berth needs from a container engine, as a Protocol with berth's own values.

Everything outside `berth.engine` talks to the engine through `Engine` only: Docker today
(`berth.engine.docker_engine`), an in-memory engine in unit tests (`berth.engine.memory`). Methods return the
frozen values below, never SDK objects, and fail with `EngineError` (refused: `EngineRefused`, missing object:
`EngineNotFound`); lookups of one object return None when it does not exist.

Container specs are berth's plain create-time definition (`berth.lifecycle.render` makes them; JSON round-trips):
image, network_mode, environment, volumes (`source:target[:mode]`), cap_add, privileged, pid_mode, ipc_mode,
devices, security_opt (incl. `systempaths=unconfined`), init, restart, healthcheck (seconds), and for the few
containers berth runs outside a deployment: command, entrypoint, user, ports (`"5000/tcp": ["127.0.0.1", 4000]`).
Unknown keys (stop_timeout) are ignored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from berth.errors import EngineError
from berth.frozen import frozen

Labels = Mapping[str, str]


@contextlib.contextmanager
def doing(what: str) -> Iterator[None]:
    """Say what berth was doing when the engine failed ("creating database keystone" rather than the engine's own
    "running /bin/sh in container mariadb"), as berth's messages always have."""
    try:
        yield
    except EngineError as exc:
        if exc.doing and exc.doing != what:
            exc.message = exc.message.replace(exc.doing, what, 1)
            exc.args = (exc.message,)
            exc.doing = what
        raise



@dataclass(frozen=True)
class ContainerInfo:
    """One container as berth sees it. From a listing, exit_code and restart_count are 0 (not listed)."""

    id: str
    name: str
    labels: Labels = field(default_factory=frozen)
    state: str = "created"  # running | exited | created | restarting | paused | dead
    health: str | None = None  # healthy | unhealthy | starting | None (no health check)
    exit_code: int = 0
    restart_count: int = 0
    image_id: str = ""
    status_text: str = ""  # the engine's own wording, e.g. "Up 3 minutes (healthy)"
    started_at: str = ""  # from an inspect: when its process last started (ISO 8601, the engine's clock)
    finished_at: str = ""  # from an inspect: when its process last ended ("" if it never has)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def restarting(self) -> bool:
        return self.state == "restarting"


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...] = ()
    labels: Labels = field(default_factory=frozen)

    @property
    def short_id(self) -> str:
        """As `docker images` shows it (sha256: and 10 hex digits)."""
        return self.id[:17] if self.id.startswith("sha256:") else self.id[:10]


@dataclass(frozen=True)
class VolumeInfo:
    name: str
    labels: Labels = field(default_factory=frozen)
    created_at: str = ""


@dataclass(frozen=True)
class NetworkInfo:
    id: str
    name: str
    labels: Labels = field(default_factory=frozen)


@dataclass(frozen=True)
class ExecResult:
    code: int
    output: str  # stdout and stderr together (exec_streamed: stderr only)


@dataclass(frozen=True)
class StreamEvent:
    """One line of a streamed engine operation (build, push, load); `error` set when it failed."""

    text: str = ""
    error: str = ""


@dataclass(frozen=True)
class EngineVersion:
    version: str
    api_version: str


@dataclass(frozen=True)
class EngineInfo:
    root_dir: str  # where the engine keeps images and volumes (disk checks)


class Engine(Protocol):
    """The container engine operations berth uses; `ident` is a container id or name."""

    # --- the engine ---
    def ping(self) -> None: ...
    def version(self) -> EngineVersion: ...
    def info(self) -> EngineInfo: ...
    def close(self) -> None: ...

    # --- containers ---
    def containers(self, labels: Labels | None = None, *, running_only: bool = False) -> list[ContainerInfo]:
        """Containers carrying every given label (stopped ones too unless `running_only`)."""
        ...

    def container(self, ident: str) -> ContainerInfo | None: ...
    def create_container(self, name: str, spec: Mapping[str, Any], labels: Labels) -> ContainerInfo: ...
    def start(self, ident: str) -> None: ...
    def stop(self, ident: str, timeout: int) -> None: ...
    def restart(self, ident: str, timeout: int) -> None: ...
    def rename(self, ident: str, name: str) -> None: ...
    def remove(self, ident: str, force: bool = True) -> None:
        """Raises EngineNotFound when it is already gone."""
        ...

    def exec(self, ident: str, argv: list[str], env: Mapping[str, str] | None = None) -> ExecResult: ...
    def exec_streamed(self, ident: str, argv: list[str], write: Callable[[bytes], object]) -> ExecResult:
        """Run `argv`, handing its stdout to `write` as it comes (dumps too large for memory); output = stderr."""
        ...

    def logs(self, ident: str, tail: int | None = None) -> str: ...
    def stream_logs(self, ident: str, tail: int | None, follow: bool) -> Iterator[bytes]: ...
    def wait(self, ident: str, timeout: float) -> int:
        """The exit status; EngineError when it does not exit within `timeout`."""
        ...

    def put_archive(self, ident: str, path: str, data: bytes) -> None: ...

    # --- images ---
    def image(self, ref: str) -> ImageInfo | None: ...
    def images(self, label: str | None = None) -> list[ImageInfo]:
        """Top-level images (no intermediate layers), optionally having `label` (`key` or `key=value`)."""
        ...

    def pull(self, ref: str) -> ImageInfo: ...
    def push(self, ref: str) -> Iterator[StreamEvent]: ...
    def tag(self, image: str, ref: str) -> None: ...
    def remove_image(self, ref: str, force: bool = False) -> None: ...
    def build(self, context: IO[bytes], tag: str, labels: Labels, nocache: bool = False) -> Iterator[StreamEvent]:
        """Build from a tar context holding a Dockerfile; the log streams as it happens."""
        ...

    def import_image(self, tar: IO[bytes], ref: str, changes: list[str]) -> None: ...
    def save_images(self, refs: list[str]) -> Iterator[bytes]: ...
    def load_images(self, chunks: Iterable[bytes]) -> Iterator[StreamEvent]: ...

    # --- volumes and networks ---
    def volumes(self, labels: Labels | None = None) -> list[VolumeInfo]: ...
    def volume(self, name: str) -> VolumeInfo | None: ...
    def create_volume(self, name: str, labels: Labels) -> VolumeInfo: ...
    def remove_volume(self, name: str, force: bool = False) -> None: ...
    def networks(self, labels: Labels | None = None) -> list[NetworkInfo]: ...
    def remove_network(self, ident: str) -> None: ...
