"""Which Debian mirror to use: the one the host's apt already uses, never a hard-coded host.

Both apt formats are read: one-line `deb URI SUITE COMPONENTS` files and deb822 `.sources` stanzas
(`URIs:` / `Suites:`). The security archive is recorded separately so images get security updates from
the same place the host does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from berth.errors import BuildError

APT_DIR = Path("/etc/apt")


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


@dataclass(frozen=True)
class Mirror:
    """The archive for `release` (and its -updates) plus, when configured, the security archive."""

    debian: str
    security: str | None = None

    def sources_list(self, release: str) -> str:
        """One-line apt sources for an image of `release`."""
        lines = [f"deb {self.debian} {release} main", f"deb {self.debian} {release}-updates main"]
        if self.security:
            lines.append(f"deb {self.security} {release}-security main")
        return "\n".join(lines) + "\n"


def parse_one_line(text: str) -> list[AptSource]:
    """`deb [options] URI SUITE COMPONENT...` lines; deb-src and comments are ignored."""
    found = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2:
            found.append(AptSource(words[0], (words[1],), tuple(words[2:])))
    return found


def parse_deb822(text: str) -> list[AptSource]:
    """Stanzas of a `.sources` file; only enabled `Types: deb` stanzas count."""
    found: list[AptSource] = []
    for stanza in _stanzas(text):
        if "deb" not in stanza.get("types", "").split() or stanza.get("enabled", "yes").lower() == "no":
            continue
        suites = tuple(stanza.get("suites", "").split())
        components = tuple(stanza.get("components", "").split())
        found.extend(AptSource(uri, suites, components) for uri in stanza.get("uris", "").split())
    return found


def _stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for raw in text.splitlines() + [""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
        elif raw[0] in " \t" and key:
            current[key] += " " + raw.strip()
        elif ":" in raw:
            key, value = raw.split(":", 1)
            key = key.strip().lower()
            current[key] = value.strip()
    return stanzas


def host_sources(apt_dir: Path = APT_DIR) -> list[AptSource]:
    """Every enabled source of the host, in apt's reading order."""
    found = []
    main = apt_dir / "sources.list"
    if main.is_file():
        found.extend(parse_one_line(main.read_text()))
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                found.extend(parse_one_line(path.read_text()))
            elif path.suffix == ".sources":
                found.extend(parse_deb822(path.read_text()))
    return found


def pick_mirror(sources: Iterable[AptSource], release: str) -> Mirror:
    """The first source carrying `release` itself, plus the first one carrying `release`-security.

    A Debian mirror carries every suite, so when the host lists only its own release (a bookworm host building
    trixie images) the mirror of the host's main suite serves `release`, and its security archive `release`-security.
    """
    items = list(sources)
    debian = next((s.uri for s in items if release in s.suites), None)
    security = next((s.uri for s in items if f"{release}-security" in s.suites), None)
    if debian is None:
        debian = next((s.uri for s in items if any(_main_suite(suite) for suite in s.suites)), None)
        security = next((s.uri for s in items if any(x.endswith("-security") for x in s.suites)), None)
    if debian is None:
        raise BuildError(
            f"no Debian {release} mirror found in the host's apt configuration ({APT_DIR}/sources.list*)",
            "set `debian_mirror: http://<your mirror>/debian` in globals.yml",
        )
    return Mirror(debian.rstrip("/"), security.rstrip("/") if security else None)


def _main_suite(suite: str) -> bool:
    """A distribution's own suite (bookworm, trixie, stable), not -updates/-security/-backports."""
    return "-" not in suite and "/" not in suite


def resolve_mirror(configured: str | None, release: str, apt_dir: Path = APT_DIR) -> Mirror:
    """globals `debian_mirror` when set, else the host's apt mirror (security archive taken from the host too)."""
    sources = host_sources(apt_dir)
    if configured:
        security = next((s.uri for s in sources if f"{release}-security" in s.suites), None)
        security = security or next((s.uri for s in sources if any(x.endswith("-security") for x in s.suites)), None)
        return Mirror(configured.rstrip("/"), security.rstrip("/") if security else None)
    return pick_mirror(sources, release)
