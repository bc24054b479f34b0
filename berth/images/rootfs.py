"""The root of the image tree: `debian:<release>` when the engine has it, else a debootstrapped rootfs.

There is no Docker Hub here, so the rootfs is made from the host's own Debian mirror with
`debootstrap --variant=minbase` and `docker import`ed; the import records how it was made in the label
berth.image.base-source. It is made once and reused (it is the slowest, most network-bound step).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from berth.engine import labels
from berth.engine.base import Engine, doing
from berth.errors import BuildError
from berth.images.mirror import Mirror

ROOTFS_REPO = "berth/rootfs"  # not namespaced: every namespace shares the one rootfs
HOST_HINT = "run `berth bootstrap-host` (as root): it installs debootstrap"


@dataclass(frozen=True)
class Rootfs:
    """The image `base` starts FROM; `make` is False when it already exists."""

    ref: str
    source: str
    make: bool


def choose_rootfs(engine: Engine, release: str, base_image: str | None) -> Rootfs:
    """globals `base_image`, else `debian:<release>` if present, else our debootstrapped rootfs."""
    if base_image:
        if not _exists(engine, base_image):
            raise BuildError(f"base_image {base_image} is not in the engine",
                             "load it (docker load / berth images import) or remove `base_image` from globals.yml")
        return Rootfs(base_image, f"image {base_image}", False)
    official = f"debian:{release}"
    if _exists(engine, official):
        return Rootfs(official, f"image {official}", False)
    ref = f"{ROOTFS_REPO}:{release}"
    return Rootfs(ref, "debootstrap", not _exists(engine, ref))


def _exists(engine: Engine, ref: str) -> bool:
    return engine.image(ref) is not None


def make_rootfs(engine: Engine, ref: str, release: str, mirror: Mirror,
                log: Callable[[str], None]) -> None:
    """debootstrap a minbase `release` from `mirror` and import it as `ref`."""
    if shutil.which("debootstrap") is None:
        raise BuildError("debootstrap is not installed; it is needed to make the base rootfs", HOST_HINT)
    with tempfile.TemporaryDirectory(prefix="berth-rootfs-") as tmp:
        target = Path(tmp) / "root"
        _debootstrap(target, release, mirror, log)
        (target / "etc/apt/sources.list").write_text(mirror.sources_list(release))
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            _empty(target / junk)
        log("importing the rootfs into the engine")
        _import(engine, target, ref, f"debootstrap minbase {release} {mirror.debian}")


def _debootstrap(target: Path, release: str, mirror: Mirror, log: Callable[[str], None]) -> None:
    argv = ["debootstrap", "--variant=minbase", release, str(target), mirror.debian]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        log(line.rstrip())
        tail = (tail + [line.rstrip()])[-15:]
    if proc.wait() != 0:
        raise BuildError(f"debootstrap of {release} from {mirror.debian} failed (exit {proc.returncode})",
                         "check that the mirror is reachable, or set `debian_mirror` in globals.yml",
                         details=tail)


def _empty(path: Path) -> None:
    if not path.is_dir():
        return
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        elif child.name != "lock":
            child.unlink()


def _import(engine: Engine, target: Path, ref: str, source: str) -> None:
    """Stream `tar -C target -c .` into the engine: no temporary tarball on disk."""
    changes = [f'LABEL {labels.IMAGE_BASE_SOURCE}="{source}"', 'CMD ["/bin/bash"]']
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(target), "-c", "."], stdout=subprocess.PIPE)
    assert tar.stdout is not None
    try:
        with doing(f"importing the rootfs as {ref}"):
            engine.import_image(tar.stdout, ref, changes)
    finally:
        tar.stdout.close()
        if tar.wait() != 0:
            raise BuildError(f"tar of the rootfs {target} failed (exit {tar.returncode})")
