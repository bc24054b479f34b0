"""The Docker implementation of `berth.engine.base.Engine`: the only module that talks to the docker SDK and the
only place where its errors (and requests') become EngineErrors with advice.

`connect()` returns a `DockerEngine` verified with a ping; it answers with berth's own frozen values.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

import docker
import docker.errors
import requests.exceptions

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
from berth.engine.docker_spec import create_args, create_kwargs
from berth.errors import EngineError, EngineNotFound, EngineRefused

BOOTSTRAP_HINT = "run `berth bootstrap-host` (as root) to install and start the Docker engine"
DEFAULT_TIMEOUT = 300  # seconds: image builds and pulls stream for a long time
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")
_EXITED = re.compile(r"^Exited \((-?\d+)\)")


def connect(timeout: int = DEFAULT_TIMEOUT) -> DockerEngine:
    """The engine at $DOCKER_HOST or the default socket, verified with a ping."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise EngineError(f"cannot reach the Docker engine at {where}: {_short(exc)}", BOOTSTRAP_HINT) from exc
    except requests.exceptions.RequestException as exc:
        raise EngineError(f"cannot reach the Docker engine: {_short(exc)}", BOOTSTRAP_HINT) from exc
    return DockerEngine(client)


@contextlib.contextmanager
def engine_errors(doing: str) -> Iterator[None]:
    """Translate engine failures during `doing` (e.g. "starting container keystone") into EngineErrors."""
    try:
        yield
    except docker.errors.APIError as exc:
        explanation = _explanation(exc)
        kind = EngineNotFound if isinstance(exc, docker.errors.NotFound) else EngineRefused
        raise _doing(kind(f"the Docker engine refused {doing}: {explanation}", explanation=explanation),
                     doing) from exc
    except requests.exceptions.ConnectionError as exc:
        raise _doing(EngineError(f"lost the Docker engine while {doing}: {_short(exc)}", BOOTSTRAP_HINT),
                     doing) from exc


def _doing(error: EngineError, doing: str) -> EngineError:
    error.doing = doing
    return error


def _explanation(exc: docker.errors.APIError) -> str:
    return str(getattr(exc, "explanation", None) or exc)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _label_filter(labels: Labels | None) -> dict[str, list[str]] | None:
    return {"label": [f"{k}={v}" for k, v in labels.items()]} if labels else None


def container_from_row(row: Mapping[str, Any]) -> ContainerInfo:
    """A listing row (no inspect): health and exit status come from the engine's status text."""
    status = str(row.get("Status", ""))
    health = _HEALTH.search(status)
    exited = _EXITED.match(status)
    return ContainerInfo(
        id=row["Id"], name=(row.get("Names") or ["/"])[0].lstrip("/"), labels=dict(row.get("Labels") or {}),
        state=str(row.get("State", "")), health=health.group(1).replace("health: ", "") if health else None,
        exit_code=int(exited.group(1)) if exited else 0, image_id=str(row.get("ImageID", "")), status_text=status)


def container_from_inspect(attrs: Mapping[str, Any]) -> ContainerInfo:
    state = attrs.get("State") or {}
    health = (state.get("Health") or {}).get("Status")
    return ContainerInfo(
        id=attrs["Id"], name=str(attrs.get("Name", "")).lstrip("/"),
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}), state=str(state.get("Status", "")),
        health=health or None, exit_code=int(state.get("ExitCode") or 0),
        restart_count=int(attrs.get("RestartCount") or 0), image_id=str(attrs.get("Image", "")),
        started_at=_when(state.get("StartedAt")), finished_at=_when(state.get("FinishedAt")))


def _when(stamp: Any) -> str:
    """The engine's time stamp, "" for its zero time (a container that never started or never ended)."""
    text = str(stamp or "")
    return "" if not text or text.startswith("0001-01-01") else text


def _image(attrs: Mapping[str, Any]) -> ImageInfo:
    labels = attrs.get("Labels") if "Labels" in attrs else (attrs.get("Config") or {}).get("Labels")
    tags = tuple(t for t in attrs.get("RepoTags") or [] if t != "<none>:<none>")
    return ImageInfo(str(attrs["Id"]), tags, dict(labels or {}))


def _events(chunks: Iterable[Mapping[str, Any]]) -> Iterator[StreamEvent]:
    for chunk in chunks:
        error = str(chunk.get("error") or "")
        yield StreamEvent(error or str(chunk.get("stream") or chunk.get("status") or ""), error)


class DockerEngine:
    """`Engine` over the docker SDK's low-level API client (plain dicts in, berth values out)."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.api = client.api

    # --- the engine ---
    def ping(self) -> None:
        with engine_errors("answering a ping"):
            self.api.ping()

    def version(self) -> EngineVersion:
        with engine_errors("reporting its version"):
            found = self.api.version()
        return EngineVersion(str(found.get("Version", "0.0")), str(found.get("ApiVersion", "")))

    def info(self) -> EngineInfo:
        with engine_errors("reporting its configuration"):
            return EngineInfo(str(self.api.info().get("DockerRootDir", "/var/lib/docker")))

    def close(self) -> None:
        self.client.close()

    # --- containers ---
    def containers(self, labels: Labels | None = None, *, running_only: bool = False) -> list[ContainerInfo]:
        with engine_errors("listing containers"):
            rows = self.api.containers(all=not running_only, filters=_label_filter(labels))
        return [container_from_row(r) for r in rows]

    def container(self, ident: str) -> ContainerInfo | None:
        try:
            with engine_errors(f"inspecting container {ident}"):
                return container_from_inspect(self.api.inspect_container(ident))
        except EngineNotFound:
            return None

    def create_container(self, name: str, spec: Mapping[str, Any], labels: Labels) -> ContainerInfo:
        with engine_errors(f"creating container {name}"):
            created = self.api.create_container(**create_args(create_kwargs(name, spec, labels), self.api._version))
            return container_from_inspect(self.api.inspect_container(created["Id"]))

    def start(self, ident: str) -> None:
        with engine_errors(f"starting container {ident}"):
            self.api.start(ident)

    def stop(self, ident: str, timeout: int) -> None:
        with engine_errors(f"stopping container {ident}"):
            self.api.stop(ident, timeout=timeout)

    def restart(self, ident: str, timeout: int) -> None:
        with engine_errors(f"restarting container {ident}"):
            self.api.restart(ident, timeout=timeout)

    def rename(self, ident: str, name: str) -> None:
        with engine_errors(f"renaming container {ident}"):
            self.api.rename(ident, name)

    def remove(self, ident: str, force: bool = True) -> None:
        with engine_errors(f"removing container {ident}"):
            self.api.remove_container(ident, force=force)

    def exec(self, ident: str, argv: list[str], env: Mapping[str, str] | None = None) -> ExecResult:
        with engine_errors(f"running {argv[0]} in container {ident}"):
            exec_id = self.api.exec_create(ident, argv, environment=dict(env) if env else None)["Id"]
            output = self.api.exec_start(exec_id, demux=False) or b""
            code = self.api.exec_inspect(exec_id).get("ExitCode")
        return ExecResult(int(code or 0), output.decode(errors="replace"))

    def exec_streamed(self, ident: str, argv: list[str], write: Callable[[bytes], object]) -> ExecResult:
        errors: list[bytes] = []
        with engine_errors(f"running {argv[0]} in container {ident}"):
            exec_id = self.api.exec_create(ident, argv)["Id"]
            for stdout, stderr in self.api.exec_start(exec_id, stream=True, demux=True):
                if stdout:
                    write(stdout)
                if stderr:
                    errors.append(stderr)
            code = self.api.exec_inspect(exec_id).get("ExitCode")
        return ExecResult(-1 if code is None else int(code), b"".join(errors).decode(errors="replace"))

    def logs(self, ident: str, tail: int | None = None) -> str:
        with engine_errors(f"reading the log of {ident}"):
            data = self.api.logs(ident, tail=tail if tail is not None else "all")
        return bytes(data).decode(errors="replace")

    def stream_logs(self, ident: str, tail: int | None, follow: bool) -> Iterator[bytes]:
        with engine_errors(f"reading the logs of {ident}"):
            yield from self.api.logs(ident, stream=True, follow=follow, tail=tail if tail is not None else "all")

    def wait(self, ident: str, timeout: float) -> int:
        try:
            with engine_errors(f"waiting for container {ident}"):
                return int(self.api.wait(ident, timeout=timeout).get("StatusCode", 1))
        except requests.exceptions.RequestException as exc:  # the read timed out
            raise EngineError(f"container {ident} did not exit within {timeout:.0f}s: {_short(exc)}") from exc

    def put_archive(self, ident: str, path: str, data: bytes) -> None:
        with engine_errors(f"copying files into {ident}"):
            self.api.put_archive(ident, path, data)

    # --- images ---
    def image(self, ref: str) -> ImageInfo | None:
        try:
            with engine_errors(f"looking up image {ref}"):
                return _image(self.api.inspect_image(ref))
        except EngineNotFound:
            return None

    def images(self, label: str | None = None) -> list[ImageInfo]:
        with engine_errors("listing images"):
            return [_image(i) for i in self.api.images(filters={"label": label} if label else None)]

    def pull(self, ref: str) -> ImageInfo:
        with engine_errors(f"pulling {ref}"):
            return _image(self.client.images.pull(ref).attrs)

    def push(self, ref: str) -> Iterator[StreamEvent]:
        repo, tag = ref.rsplit(":", 1)
        with engine_errors(f"pushing {ref}"):
            yield from _events(self.api.push(repo, tag=tag, stream=True, decode=True))

    def tag(self, image: str, ref: str) -> None:
        repo, tag = ref.rsplit(":", 1)
        with engine_errors(f"tagging {ref}"):
            self.api.tag(image, repo, tag, force=True)

    def remove_image(self, ref: str, force: bool = False) -> None:
        with engine_errors(f"removing image {ref}"):
            self.api.remove_image(ref, force=force, noprune=False)

    def build(self, context: IO[bytes], tag: str, labels: Labels, nocache: bool = False) -> Iterator[StreamEvent]:
        with engine_errors(f"building {tag}"):
            yield from _events(self.api.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True,
                                              decode=True, pull=False, nocache=nocache, labels=dict(labels)))

    def import_image(self, tar: IO[bytes], ref: str, changes: list[str]) -> None:
        repo, tag = ref.rsplit(":", 1)
        with engine_errors(f"importing {ref}"):
            self.api.import_image(src=_chunks(tar), repository=repo, tag=tag, changes=changes, stream_src=True)

    def save_images(self, refs: list[str]) -> Iterator[bytes]:
        """The engine's multi-image save (GET /images/get?names=...); docker-py only wraps the single-image form."""
        with engine_errors("saving images"):
            response = self.api._get(self.api._url("/images/get"), params={"names": refs}, stream=True)
            self.api._raise_for_status(response)
            yield from response.iter_content(chunk_size=1 << 20)

    def load_images(self, chunks: Iterable[bytes]) -> Iterator[StreamEvent]:
        with engine_errors("loading images"):
            yield from _events(self.api.load_image(chunks, quiet=True) or [])

    # --- volumes and networks ---
    def volumes(self, labels: Labels | None = None) -> list[VolumeInfo]:
        with engine_errors("listing volumes"):
            found = self.api.volumes(filters=_label_filter(labels)).get("Volumes") or []
        return [_volume(v) for v in found]

    def volume(self, name: str) -> VolumeInfo | None:
        try:
            with engine_errors(f"inspecting volume {name}"):
                return _volume(self.api.inspect_volume(name))
        except EngineNotFound:
            return None

    def create_volume(self, name: str, labels: Labels) -> VolumeInfo:
        with engine_errors(f"creating volume {name}"):
            return _volume(self.api.create_volume(name, labels=dict(labels)))

    def remove_volume(self, name: str, force: bool = False) -> None:
        with engine_errors(f"removing volume {name}"):
            self.api.remove_volume(name, force=force)

    def networks(self, labels: Labels | None = None) -> list[NetworkInfo]:
        with engine_errors("listing networks"):
            found = self.api.networks(filters=_label_filter(labels))
        return [NetworkInfo(n["Id"], n["Name"], dict(n.get("Labels") or {})) for n in found]

    def remove_network(self, ident: str) -> None:
        with engine_errors(f"removing network {ident}"):
            self.api.remove_network(ident)


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """A stream as chunks: requests then sends it chunk-encoded whatever it is (a pipe, or a file of known
    length, for which it would otherwise send a Content-Length under the chunked header the SDK sets)."""
    while chunk := handle.read(1 << 20):
        yield chunk


def _volume(attrs: Mapping[str, Any]) -> VolumeInfo:
    return VolumeInfo(str(attrs["Name"]), dict(attrs.get("Labels") or {}), str(attrs.get("CreatedAt", "")))


if TYPE_CHECKING:
    from berth.engine.base import Engine

    _CONFORMS: type[Engine] = DockerEngine
