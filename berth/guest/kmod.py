"""Which kernel modules the guest needs, in the order `insmod` must load them.

Debian's kernel packages ship no modules.dep (depmod writes it at install time, and berth never installs the
package on the host), so the dependency graph is read from each module's own `.modinfo` ELF section
("depends=a,b"). A modules.dep file is used instead when one is present. busybox `insmod` neither resolves
dependencies nor (in Debian's build) reads compressed modules, hence the ordering here and the decompression
at build time.
"""

from __future__ import annotations

import lzma
import struct
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from berth.errors import BuildError

# The virtio devices nova's libvirt driver gives a guest by default: a virtio NIC and a virtio disk.
WANTED_MODULES: tuple[str, ...] = ("virtio_pci", "virtio_net", "virtio_blk")


def modname(path_or_name: str) -> str:
    """Canonical module name: basename without .ko[.xz], dashes as underscores (as the kernel compares them)."""
    base = path_or_name.rsplit("/", 1)[-1]
    for suffix in (".xz", ".zst", ".gz"):
        base = base.removesuffix(suffix)
    return base.removesuffix(".ko").replace("-", "_")


def parse_modules_dep(text: str) -> dict[str, list[str]]:
    """modules.dep lines `path: dep-path dep-path` -> {name: [dependency names]}."""
    deps: dict[str, list[str]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        path, rest = line.split(":", 1)
        deps[modname(path.strip())] = [modname(p) for p in rest.split()]
    return deps


def elf_section(blob: bytes, wanted: str) -> bytes | None:
    """The contents of one named section of a 64-bit little-endian ELF file (kernel modules on amd64)."""
    if blob[:4] != b"\x7fELF" or blob[4] != 2 or blob[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    shoff = struct.unpack_from("<Q", blob, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", blob, 0x3A)
    sections = [struct.unpack_from("<IIQQQQ", blob, shoff + i * shentsize) for i in range(shnum)]
    names_off = sections[shstrndx][4]
    for name_idx, _type, _flags, _addr, offset, size in sections:
        end = blob.index(b"\0", names_off + name_idx)
        if blob[names_off + name_idx : end].decode() == wanted:
            return blob[offset : offset + size]
    return None


def modinfo_depends(blob: bytes) -> list[str]:
    """The `depends=` field of a module's .modinfo section (empty when it depends on nothing)."""
    section = elf_section(blob, ".modinfo") or b""
    for field in section.split(b"\0"):
        if field.startswith(b"depends="):
            return [modname(d) for d in field[8:].decode().split(",") if d]
    return []


def read_module(path: Path) -> bytes:
    """A module's bytes, decompressed when the kernel package ships it compressed."""
    blob = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(blob)
    if path.suffix in (".zst", ".gz"):
        raise BuildError(f"compressed kernel module {path.name} is not supported",
                         "berth decompresses only .ko and .ko.xz modules; use a kernel package with those")
    return blob


def load_order(wanted: Iterable[str], depends: Callable[[str], list[str]]) -> list[str]:
    """Dependencies before dependents (depth-first post-order), each module once, cycles rejected."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise BuildError(f"kernel module dependency cycle through {name}")
        visiting.add(name)
        for dep in depends(name):
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in wanted:
        visit(name)
    return order


def index_modules(moddir: Path) -> dict[str, Path]:
    """Module name -> file, for every module under lib/modules/<version>/."""
    found = [p for p in moddir.rglob("*.ko*") if p.name.endswith((".ko", ".ko.xz", ".ko.zst", ".ko.gz"))]
    return {modname(p.name): p for p in sorted(found)}


def resolve(moddir: Path, wanted: Iterable[str] = WANTED_MODULES) -> list[tuple[str, bytes]]:
    """(name, uncompressed bytes) of the wanted modules and all they depend on, in load order."""
    index = index_modules(moddir)
    dep_file = moddir / "modules.dep"
    table: Mapping[str, list[str]] | None = (
        parse_modules_dep(dep_file.read_text()) if dep_file.exists() else None
    )
    cache: dict[str, bytes] = {}

    def blob(name: str) -> bytes:
        if name not in index:
            raise BuildError(f"kernel module {name} not found under {moddir}",
                             "the kernel package may build it in (check modules.builtin) or lack it")
        if name not in cache:
            cache[name] = read_module(index[name])
        return cache[name]

    def depends(name: str) -> list[str]:
        return list(table.get(name, [])) if table is not None else modinfo_depends(blob(name))

    builtin = _builtin(moddir)
    order = [m for m in load_order([w for w in wanted if w not in builtin], depends) if m not in builtin]
    return [(name, blob(name)) for name in order]


def _builtin(moddir: Path) -> set[str]:
    path = moddir / "modules.builtin"
    return {modname(line) for line in path.read_text().split()} if path.exists() else set()
