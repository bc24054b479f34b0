"""Offline bundles: selected images in one compressed file, so a host without a package mirror can deploy.

Format: a gzip-compressed tar whose first member is `berth-bundle.json` (names, references, content hashes,
image ids) followed by the members of the engine's own `docker save` archive of all the images at once
(shared layers stored once). `docker load` accepts the decompressed stream as it is.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from berth.engine import labels
from berth.engine.base import Engine, doing
from berth.errors import BuildError, NotFoundError

MANIFEST = "berth-bundle.json"
FORMAT = 1


@dataclass(frozen=True)
class BundleImage:
    name: str
    ref: str
    hash: str
    id: str


def describe(engine: Engine, refs: Iterable[str]) -> list[BundleImage]:
    """Manifest entries for image references; a missing image is an error naming it."""
    found = []
    for ref in refs:
        with doing(f"inspecting {ref}"):
            image = engine.image(ref)
        if image is None:
            raise NotFoundError(f"image {ref} does not exist", "build it first: `berth build <name>`")
        found.append(BundleImage(image.labels.get(labels.IMAGE_NAME, ref), ref,
                                 image.labels.get(labels.IMAGE_HASH, ""), image.id))
    return found


class _ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks (tarfile's stream mode reads from it)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size], self.pending = self.pending[:size], self.pending[size:]
        return size


def export_bundle(engine: Engine, refs: list[str], path: Path, level: int = 1) -> list[BundleImage]:
    """Write the bundle to `path` (atomically: a partial file never has the final name)."""
    images = describe(engine, refs)
    manifest = json.dumps({"format": FORMAT, "created": int(time.time()),
                           "images": [vars(i) for i in images]}, indent=2).encode()
    partial = path.with_name(path.name + ".partial")
    with gzip.open(partial, "wb", compresslevel=level) as raw, tarfile.open(fileobj=raw, mode="w|") as out:
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime = len(manifest), int(time.time())
        out.addfile(info, io.BytesIO(manifest))
        source = io.BufferedReader(_ChunkReader(engine.save_images(refs)), buffer_size=1 << 20)
        with tarfile.open(fileobj=source, mode="r|") as saved:
            for member in saved:
                out.addfile(member, saved.extractfile(member) if member.isfile() else None)
    partial.replace(path)
    return images


def read_manifest(path: Path) -> list[BundleImage]:
    """The bundle's manifest (only the first member is read)."""
    try:
        with tarfile.open(path, mode="r|gz") as bundle:
            first = next(iter(bundle), None)
            if first is None or first.name != MANIFEST:
                raise BuildError(f"{path} is not a berth bundle (no {MANIFEST} first)",
                                 "make bundles with `berth images export`")
            data = json.load(bundle.extractfile(first))  # type: ignore[arg-type]
    except (OSError, tarfile.TarError, ValueError) as exc:
        raise BuildError(f"{path}: cannot read the bundle: {exc}", "is the file complete?") from exc
    if data.get("format") != FORMAT:
        raise BuildError(f"{path}: bundle format {data.get('format')} is not {FORMAT}", "export it again")
    return [BundleImage(**item) for item in data.get("images", [])]


def import_bundle(engine: Engine, path: Path) -> list[BundleImage]:
    """Load the bundle into the engine and check every manifest image arrived with its hash."""
    images = read_manifest(path)
    with gzip.open(path, "rb") as stream, doing(f"loading {path}"):
        for event in engine.load_images(_Buffered(stream)):
            if event.error:
                raise BuildError(f"loading {path} failed: {event.error}")
    missing = [i.ref for i, found in zip(images, _check(engine, images)) if not found]
    if missing:
        raise BuildError(f"{path}: {len(missing)} image(s) missing or different after loading",
                         "the bundle may be damaged; export it again", details=missing)
    return images


def _check(engine: Engine, images: list[BundleImage]) -> list[bool]:
    out = []
    for image in images:
        found = engine.image(image.ref)
        out.append(found is not None and found.labels.get(labels.IMAGE_HASH, "") == image.hash)
    return out


class _Buffered:
    """Iterate a file in chunks (requests streams an iterable body with chunked encoding)."""

    def __init__(self, handle: BinaryIO | gzip.GzipFile) -> None:
        self.handle = handle

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.handle.read(1 << 20):
            yield chunk
