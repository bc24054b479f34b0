"""Files only their owner may read: secrets, host plans and state with rendered secrets in them, backups, keys.

One way to write them, so none is ever readable by others even for a moment, and none is ever half-written: the
content goes to a temporary file created with mode 0600 in the same directory, is flushed to disk, and
is renamed over the target only once complete; a writer that fails leaves the old file as it was and no temporary
file behind. A missing parent directory is made with mode 0700.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def private_file(path: Path, binary: bool = False, sync: bool = True) -> Iterator[IO[Any]]:
    """A handle to write `path`'s new content to (text, or bytes with `binary`); it replaces `path` on success.
    `sync=False` skips the flush to disk, for files made again at every run (a container's rendered config)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # one fixed temporary name per file: a writer killed mid-way leaves it, and the next write of `path` reuses it
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # 0600 from the first byte
    try:
        os.fchmod(fd, 0o600)  # a leftover temporary file keeps its own mode under O_TRUNC
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            yield handle
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_private(path: Path, data: str | bytes, sync: bool = True) -> None:
    """`path` holds `data`, mode 0600, written atomically."""
    with private_file(path, binary=isinstance(data, bytes), sync=sync) as handle:
        handle.write(data)
