"""Build (or find cached) the three artifacts of berth's test guest: kernel, initramfs and a tiny disk.

The cache key is a hash over everything that decides the bytes: the two package versions, the init and
DHCP scripts, the module list and this builder's format version; so a second call costs two `apt-cache`
look-ups and no download.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from berth.errors import BuildError
from berth.guest import debs, kmod
from berth.guest.cpio import Entry, write_newc

DEFAULT_CACHE = Path("/var/cache/berth/guest")
FORMAT_VERSION = "1"
DISK_BYTES = 1024 * 1024
KERNEL_FILE, RAMDISK_FILE, DISK_FILE, MANIFEST = "vmlinuz", "initrd.img", "disk.raw", "manifest.json"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class GuestArtifacts:
    kernel: Path
    ramdisk: Path
    disk: Path
    kernel_version: str


def _quiet(_message: str) -> None:
    pass


def guest_file(name: str) -> str:
    return resources.files("berth.guest").joinpath("files", name).read_text()


def content_hash(kernel: debs.Package, busybox: debs.Package) -> str:
    """Short stable hash of all inputs of the build (see module docstring)."""
    inputs = {
        "format": FORMAT_VERSION,
        "kernel": [kernel.name, kernel.version],
        "busybox": [busybox.name, busybox.version],
        "init": guest_file("init.sh"),
        "udhcpc": guest_file("udhcpc.script"),
        "modules": list(kmod.WANTED_MODULES),
        "disk": DISK_BYTES,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def build_test_guest(cache_dir: Path | None = None, progress: Progress = _quiet) -> GuestArtifacts:
    """Return the guest's artifacts, building them into <cache_dir>/<content-hash>/ unless already there.

    When the mirror no longer has the versions apt's lists name (a kernel security update replaced them),
    the lists are refreshed once and the build starts over with the new versions.
    """
    try:
        return _build_or_load(cache_dir or DEFAULT_CACHE, progress)
    except debs.StaleListsError:
        debs.update(progress)
        return _build_or_load(cache_dir or DEFAULT_CACHE, progress)


def _build_or_load(root: Path, progress: Progress) -> GuestArtifacts:
    kernel, busybox = debs.candidates(progress)
    target = root / content_hash(kernel, busybox)
    cached = _load(target)
    if cached is not None:
        progress(f"test guest cached in {target}")
        return cached
    progress(f"building test guest from {kernel.name} {kernel.version} and {busybox.name} {busybox.version}")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".build-", dir=root) as tmp:
            staged = Path(tmp) / "out"
            _build_into(Path(tmp), staged, kernel, busybox, progress)
            shutil.rmtree(target, ignore_errors=True)
            staged.rename(target)
    except OSError as exc:
        raise BuildError(f"cannot write the test guest into {root}: {exc.strerror or exc}",
                         "choose a writable cache directory (or run as root for /var/cache/berth)") from exc
    loaded = _load(target)
    assert loaded is not None, "manifest written just above"
    return loaded


def _load(target: Path) -> GuestArtifacts | None:
    """The cached artifacts when the manifest (written last) and all files are present."""
    try:
        manifest = json.loads((target / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    kernel, ramdisk, disk = target / KERNEL_FILE, target / RAMDISK_FILE, target / DISK_FILE
    if not all(p.is_file() for p in (kernel, ramdisk, disk)):
        return None
    return GuestArtifacts(kernel, ramdisk, disk, str(manifest["kernel_version"]))


def _fetch(work: Path, kernel: debs.Package, busybox: debs.Package, progress: Progress) -> list[Path]:
    progress("downloading packages with apt-get download")
    return debs.download([kernel, busybox], work)


def _build_into(work: Path, out: Path, kernel: debs.Package, busybox: debs.Package, progress: Progress) -> None:
    debfiles = _fetch(work, kernel, busybox, progress)
    tree = work / "tree"
    for deb in debfiles:
        progress(f"unpacking {deb.name}")
        debs.extract(deb, tree)
    release = _kernel_release(tree)
    out.mkdir()
    shutil.copyfile(tree / "boot" / f"vmlinuz-{release}", out / KERNEL_FILE)
    modules = kmod.resolve(tree / "lib" / "modules" / release)
    progress(f"initramfs with modules {', '.join(name for name, _ in modules)}")
    archive = write_newc(initramfs_entries((tree / "bin" / "busybox").read_bytes(), modules))
    (out / RAMDISK_FILE).write_bytes(gzip.compress(archive, compresslevel=9, mtime=0))
    (out / DISK_FILE).write_bytes(b"\0" * DISK_BYTES)
    manifest = {"kernel_version": release, "packages": {kernel.name: kernel.version, busybox.name: busybox.version}}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _kernel_release(tree: Path) -> str:
    found = sorted(p.name.removeprefix("vmlinuz-") for p in (tree / "boot").glob("vmlinuz-*"))
    if len(found) != 1:
        raise BuildError(f"expected one vmlinuz in the kernel package, found {found or 'none'}")
    return found[0]


def initramfs_entries(busybox: bytes, modules: list[tuple[str, bytes]]) -> list[Entry]:
    """The whole initramfs: busybox, /init and its DHCP hook, the modules and their load order."""
    entries = [Entry.directory(d) for d in ("bin", "dev", "etc", "etc/berth", "lib", "lib/modules",
                                            "proc", "run", "sys", "tmp", "www")]
    entries += [
        Entry.chardev("dev/console", 5, 1),  # init's stdin/stdout before devtmpfs is mounted
        Entry.file("bin/busybox", busybox, 0o755),
        Entry.symlink("bin/sh", "busybox"),
        Entry.file("init", guest_file("init.sh").encode(), 0o755),
        Entry.file("etc/udhcpc.script", guest_file("udhcpc.script").encode(), 0o755),
        Entry.file("etc/berth/modules", "".join(f"{name}\n" for name, _ in modules).encode()),
    ]
    entries += [Entry.file(f"lib/modules/{name}.ko", blob) for name, blob in modules]
    return entries
