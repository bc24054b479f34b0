"""Finding the Debian mirror from the host's apt configuration (both formats)."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.errors import BuildError
from berth.images.mirror import (
    Mirror,
    host_sources,
    parse_deb822,
    parse_one_line,
    pick_mirror,
    resolve_mirror,
)

DEB822 = """Types: deb deb-src
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm
"""


def test_deb822_stanzas_give_uris_and_suites() -> None:
    sources = parse_deb822(DEB822)
    assert [s.uri for s in sources] == ["http://mirror.example/debian", "http://security.example/debian-security"]
    assert sources[0].suites == ("bookworm", "bookworm-updates")


def test_one_line_sources_skip_options_comments_and_deb_src() -> None:
    text = ("# deb http://commented.example/debian bookworm main\n"
            "deb-src http://src.example/debian bookworm main\n"
            "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian/ bookworm main contrib\n")
    sources = parse_one_line(text)
    assert len(sources) == 1
    assert sources[0].uri == "http://one.example/debian/"
    assert sources[0].components == ("main", "contrib")


def test_pick_mirror_prefers_the_release_and_finds_security() -> None:
    mirror = pick_mirror(parse_deb822(DEB822), "bookworm")
    assert mirror == Mirror("http://mirror.example/debian", "http://security.example/debian-security")
    assert "deb http://security.example/debian-security bookworm-security main" in mirror.sources_list("bookworm")


def test_no_debian_mirror_at_all_is_an_error_with_a_hint() -> None:
    with pytest.raises(BuildError) as info:
        pick_mirror(parse_one_line("deb http://x.example/debian bookworm-backports main\n"), "trixie")
    assert "debian_mirror" in (info.value.hint or "")


def test_another_suite_comes_from_the_hosts_mirror_and_security_archive() -> None:
    sources = parse_one_line("deb http://x.example/debian bookworm main\n"
                             "deb http://sec.example/debian-security bookworm-security main\n")
    mirror = pick_mirror(sources, "trixie")
    assert mirror == Mirror("http://x.example/debian", "http://sec.example/debian-security")
    assert "deb http://sec.example/debian-security trixie-security main" in mirror.sources_list("trixie")


def test_host_sources_reads_list_and_sources_files(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("deb http://main.example/debian bookworm main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "other.list.disabled").write_text("deb http://no.example/ bookworm main\n")
    uris = [s.uri for s in host_sources(tmp_path)]
    assert uris == ["http://main.example/debian", "http://mirror.example/debian",
                    "http://security.example/debian-security"]


def test_configured_mirror_wins_but_keeps_the_hosts_security_archive(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb http://sec.example/ds bookworm-security main\n")
    mirror = resolve_mirror("http://mine.example/debian/", "bookworm", tmp_path)
    assert mirror == Mirror("http://mine.example/debian", "http://sec.example/ds")
