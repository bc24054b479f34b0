"""Reading the central log store: time order across files and rotated (compressed) copies, the filters, and
`--since` in both forms."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from berth.lifecycle.central_logs import parse_lines, parse_since, search, store_dir


def write(path: Path, lines: list[tuple[int, str, str]], compressed: bool = False) -> None:
    """Store lines at minute offsets from 10:00: (minute, file, text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"2026-12-02T10:{m:02d}:00.000000+00:00 {f} {t}\n" for m, f, t in lines)
    if compressed:
        with gzip.open(path, "wt") as stream:
            stream.write(text)
    else:
        path.write_text(text)


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    root = store_dir(tmp_path)
    write(root / "ctl1" / "keystone.log", [(5, "keystone.log", "GET /v3"), (9, "keystone.log", "POST /v3/auth")])
    write(root / "ctl1" / "keystone.log.1", [(3, "keystone.log", "started")])
    write(root / "ctl1" / "keystone.log.2.gz", [(1, "keystone.log", "oldest")], compressed=True)
    write(root / "cmp1" / "nova.log", [(4, "nova_compute.log", "spawned"), (8, "nova_libvirt.log", "qemu up")])
    return root


def test_lines_come_in_time_order_across_hosts_files_and_rotated_copies(store: Path) -> None:
    lines = list(search(store))
    assert [x.text for x in lines] == ["oldest", "started", "spawned", "GET /v3", "qemu up", "POST /v3/auth"]
    assert [(x.host, x.service, x.container) for x in lines[2:5]] == [
        ("cmp1", "nova", "nova_compute"), ("ctl1", "keystone", "keystone"), ("cmp1", "nova", "nova_libvirt")]


def test_filters(store: Path) -> None:
    since = datetime(2026, 12, 2, 10, 5, tzinfo=UTC)
    assert [x.text for x in search(store, since=since)] == ["GET /v3", "qemu up", "POST /v3/auth"]
    assert [x.text for x in search(store, pattern=re.compile(r"/v3\b"))] == ["GET /v3", "POST /v3/auth"]
    assert [x.text for x in search(store, hosts={"cmp1"}, services={"nova"})] == ["spawned", "qemu up"]
    assert list(search(store, services={"glance"})) == []
    assert list(search(store.parent / "nothing-here")) == []


def test_render_names_host_and_container(store: Path) -> None:
    first = next(search(store, hosts={"cmp1"}))
    assert first.render() == "2026-12-02T10:04:00.000+00:00 cmp1 nova_compute: spawned"
    assert first.data()["container"] == "nova_compute" and first.data()["service"] == "nova"


def test_a_line_without_a_time_is_skipped() -> None:
    lines = list(parse_lines(["half a line\n", "2026-12-02T10:00:00+00:00 x.log text with  spaces\n"], "h", "s"))
    assert [x.text for x in lines] == ["text with  spaces"]


def test_since_relative_and_absolute() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert parse_since("90s", now) == now - timedelta(seconds=90)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("1d", now) == now - timedelta(days=1)
    assert parse_since("2026-12-02T10:00") == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert parse_since("2026-12-02T10:00+01:00").utcoffset() == timedelta(hours=1)
    for bad in ("yesterday", "10 minutes", "-5m", ""):
        with pytest.raises(ValueError, match="not a duration or a time"):
            parse_since(bad, now)
