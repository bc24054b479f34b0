"""A writer (and reader, for tests) of the "newc" cpio format the kernel unpacks as an initramfs.

Written in Python rather than driving the `cpio` tool because the archive must hold a /dev/console character
device and root-owned files, which the tool can only copy from a real tree (needing mknod and root), and because
fixed owners and mtimes make the archive byte-for-byte reproducible, so its content hash means something.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
_FIELDS = 13  # ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check


@dataclass(frozen=True)
class Entry:
    """One archive member; `data` is the file content or, for a symlink, the link target."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)

    @staticmethod
    def directory(name: str, perm: int = 0o755) -> Entry:
        return Entry(name, stat.S_IFDIR | perm)

    @staticmethod
    def file(name: str, data: bytes, perm: int = 0o644) -> Entry:
        return Entry(name, stat.S_IFREG | perm, data)

    @staticmethod
    def symlink(name: str, target: str) -> Entry:
        return Entry(name, stat.S_IFLNK | 0o777, target.encode())

    @staticmethod
    def chardev(name: str, major: int, minor: int, perm: int = 0o600) -> Entry:
        return Entry(name, stat.S_IFCHR | perm, rdev=(major, minor))


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def _header(ino: int, entry: Entry, namesize: int) -> bytes:
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    values = (ino, entry.mode, 0, 0, nlink, 0, len(entry.data), 0, 0, entry.rdev[0], entry.rdev[1], namesize, 0)
    return MAGIC + b"".join(b"%08X" % v for v in values)


def _member(ino: int, entry: Entry) -> bytes:
    name = entry.name.lstrip("/").encode() + b"\0"
    head = _header(ino, entry, len(name)) + name
    return head + _pad(len(head)) + entry.data + _pad(len(entry.data))


def write_newc(entries: Iterable[Entry]) -> bytes:
    """Serialise entries (parents before children) into one newc archive, uid/gid 0 and mtime 0."""
    parts = [_member(ino, entry) for ino, entry in enumerate(entries, start=1)]
    parts.append(_member(0, Entry(TRAILER, 0)))
    return b"".join(parts)


def read_newc(blob: bytes) -> Iterator[Entry]:
    """Parse a newc archive back into entries (used by tests to check what the kernel will see)."""
    pos = 0
    while True:
        if blob[pos : pos + 6] != MAGIC:
            raise ValueError(f"bad cpio magic at offset {pos}")
        fields = [int(blob[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(_FIELDS)]
        mode, filesize, rmajor, rminor, namesize = fields[1], fields[6], fields[9], fields[10], fields[11]
        pos += 6 + 8 * _FIELDS
        name = blob[pos : pos + namesize - 1].decode()
        pos += namesize
        pos += -(6 + 8 * _FIELDS + namesize) % 4
        data = blob[pos : pos + filesize]
        pos += filesize + (-filesize % 4)
        if name == TRAILER:
            return
        yield Entry(name, mode, data, (rmajor, rminor))
