"""Debian packages the guest is made from: find the candidate versions, download, unpack (never install).

Versions come from `apt-cache` (instant, offline) so a cached build can be recognised without downloading
anything; `apt-get download` uses the host's configured mirror, the only place berth fetches packages from.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from berth.errors import BuildError

KERNEL_META = "linux-image-amd64"
BUSYBOX = "busybox-static"
_MIRROR_HINT = ("check the Debian mirror in /etc/apt/sources.list(.d) and that it is reachable, "
                "then run `apt-get update`")


@dataclass(frozen=True)
class Package:
    name: str
    version: str


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
    try:
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BuildError(f"{argv[0]} is not available", "the test guest is built on a Debian host "
                         "(apt-get, apt-cache and dpkg-deb are needed)") from exc


def _tail(text: str, lines: int = 8) -> list[str]:
    return text.strip().splitlines()[-lines:]


class StaleListsError(BuildError):
    """apt's package lists name versions the mirror no longer has: update them, then retry."""


def update(progress: Callable[[str], None]) -> None:
    progress("running apt-get update")
    proc = _run(["apt-get", "update"])
    if proc.returncode != 0:
        raise BuildError("apt-get update failed", _MIRROR_HINT, details=_tail(proc.stderr))


def _show(names: list[str]) -> dict[str, dict[str, str]]:
    """Candidate fields of several packages in one apt-cache run (each run re-reads all package lists)."""
    proc = _run(["apt-cache", "show", "--no-all-versions", *names])
    found: dict[str, dict[str, str]] = {}
    for paragraph in proc.stdout.split("\n\n"):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            key, sep, value = line.partition(": ")
            if sep and not key.startswith(" "):
                fields[key] = value
        if "Package" in fields:
            found.setdefault(fields["Package"], fields)
    return found


def _show_or_update(names: list[str], progress: Callable[[str], None]) -> dict[str, dict[str, str]]:
    found = _show(names)
    if missing := [n for n in names if n not in found]:
        progress(f"package lists lack {', '.join(missing)}")
        update(progress)
        found = _show(names)
    if missing := [n for n in names if n not in found]:
        raise BuildError(f"Debian package {', '.join(missing)} is not known to apt", _MIRROR_HINT)
    return found


def kernel_package(fields: dict[str, str]) -> Package:
    """The concrete linux-image-<abi>-amd64 package the linux-image-amd64 metapackage points at."""
    match = re.search(r"(linux-image-[0-9][^\s,(]*-amd64)\s*\(=\s*([^)\s]+)\)", fields.get("Depends", ""))
    if not match:
        raise BuildError("cannot tell which kernel linux-image-amd64 depends on",
                         details=[f"Depends: {fields.get('Depends', '')}"])
    return Package(match.group(1), match.group(2))


def candidates(progress: Callable[[str], None]) -> tuple[Package, Package]:
    """(kernel, busybox-static) at the versions apt would download now."""
    found = _show_or_update([KERNEL_META, BUSYBOX], progress)
    return kernel_package(found[KERNEL_META]), Package(BUSYBOX, found[BUSYBOX]["Version"])


def download(packages: list[Package], dest: Path) -> list[Path]:
    """Fetch exact versions as .deb files into dest (apt's own verification of the archive applies)."""
    argv = ["apt-get", "download"]
    if os.geteuid() == 0:  # root: let apt write into a private directory without its sandbox user
        argv += ["-o", "APT::Sandbox::User=root"]
    proc = _run(argv + [f"{p.name}={p.version}" for p in packages], cwd=dest)
    if proc.returncode != 0:
        stale = any(s in proc.stderr for s in ("404", "Unable to locate", "Can't find a source"))
        raise (StaleListsError if stale else BuildError)(
            "apt-get download of the test guest's packages failed", _MIRROR_HINT, details=_tail(proc.stderr))
    debs = sorted(dest.glob("*.deb"))
    for pkg in packages:
        if not any(d.name.startswith(pkg.name + "_") for d in debs):
            raise BuildError(f"apt-get download did not produce {pkg.name}", _MIRROR_HINT)
    return debs


def extract(deb: Path, dest: Path) -> None:
    """Unpack a .deb's files (no maintainer scripts run, nothing is installed on the host)."""
    proc = _run(["dpkg-deb", "-x", str(deb), str(dest)])
    if proc.returncode != 0:
        raise BuildError(f"dpkg-deb could not unpack {deb.name}", "the download may be corrupt; run again",
                         details=_tail(proc.stderr))
